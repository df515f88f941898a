/** A worker_threads port (or Worker) as the DOM-style endpoint comlink expects. */
import type { MessagePort, Worker } from "node:worker_threads";
import type { Endpoint } from "comlink";

type NodePort = Pick<MessagePort | Worker, "postMessage" | "on" | "off"> & { start?: () => void };

export function nodeEndpoint(port: NodePort): Endpoint {
  const listeners = new WeakMap<object, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: Transferable[]) =>
      port.postMessage(message, transfer as never),
    addEventListener: (_type: string, handler: EventListenerOrEventListenerObject) => {
      const l = (data: unknown) => {
        if ("handleEvent" in handler) handler.handleEvent({ data } as MessageEvent);
        else handler({ data } as MessageEvent);
      };
      port.on("message", l);
      listeners.set(handler, l);
    },
    removeEventListener: (_type: string, handler: EventListenerOrEventListenerObject) => {
      const l = listeners.get(handler);
      if (!l) return;
      port.off("message", l);
      listeners.delete(handler);
    },
    start: () => port.start?.(),
  };
}
