// comlink's package.json points Node at its UMD build; its ESM build has the same API.
declare module "comlink/dist/esm/comlink.mjs" {
  export * from "comlink";
}
