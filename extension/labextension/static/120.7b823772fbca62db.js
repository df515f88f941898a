"use strict";(self.rspackChunk_stagelab_jupyterlab=self.rspackChunk_stagelab_jupyterlab||[]).push([[120],{802(e,t,a){var r=a(8645),o=a.n(r),n=a(278),i=(a.n(n))()(o());i.push([e.id,`/* Styles of the @stagelab/widgets views (loaded by JupyterLab through package.json "style"). */

.stagelab-hello {
  display: inline-block;
  padding: 4px 10px;
  border: var(--jp-border-width, 1px) solid var(--jp-border-color1, #bdbdbd);
  border-radius: var(--jp-border-radius, 2px);
  background: var(--jp-layout-color1, #fff);
  color: var(--jp-ui-font-color1, #000);
  font-family: var(--jp-code-font-family, monospace);
  cursor: pointer;
  user-select: none;
}

.stagelab-hello:focus-visible {
  outline: 2px solid var(--jp-brand-color1, #1976d2);
}

/* H5View: a live HDF5 browser. Theme colours come from JupyterLab's CSS variables, so the
   view follows the light and dark themes. */
.stagelab-h5view {
  display: flex;
  flex-direction: column;
  gap: 6px;
  width: 100%;
  max-width: 100%;
  box-sizing: border-box;
  color: var(--jp-ui-font-color1);
  background: var(--jp-layout-color0);
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size1);
}

.stagelab-h5view .sl-h5-header {
  display: flex;
  align-items: center;
  gap: 10px;
  font-weight: 600;
}

.stagelab-h5view .sl-h5-status {
  font-weight: normal;
  color: var(--jp-ui-font-color2);
}

.stagelab-h5view .sl-h5-body {
  display: flex;
  gap: 8px;
  align-items: flex-start;
  min-height: 120px;
}

.stagelab-h5view .sl-h5-tree {
  list-style: none;
  margin: 0;
  padding: 4px 0;
  flex: 0 0 auto;
  max-width: 40%;
  max-height: 520px;
  overflow: auto;
  border-right: var(--jp-border-width) solid var(--jp-border-color2);
}

.stagelab-h5view .sl-h5-tree li {
  padding: 2px 8px 2px 0;
  white-space: nowrap;
  cursor: default;
}

.stagelab-h5view .sl-h5-tree li[data-kind="dataset"] {
  cursor: pointer;
}

.stagelab-h5view .sl-h5-tree li[aria-selected="true"] {
  background: var(--jp-layout-color3);
  color: var(--jp-ui-font-color0);
}

.stagelab-h5view .sl-h5-tree li:focus-visible {
  outline: 2px solid var(--jp-brand-color1);
  outline-offset: -2px;
}

.stagelab-h5view .sl-h5-meta {
  margin-left: 8px;
  color: var(--jp-ui-font-color2);
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
}

.stagelab-h5view .sl-h5-main {
  flex: 1 1 auto;
  min-width: 0;
  display: flex;
  flex-direction: column;
  gap: 6px;
}

.stagelab-h5view .sl-h5-info-head,
.stagelab-h5view .sl-h5-readout {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}

.stagelab-h5view .sl-h5-attrs td {
  padding: 0 8px 0 0;
  vertical-align: top;
  overflow-wrap: anywhere;
}

.stagelab-h5view .sl-h5-controls,
.stagelab-h5view .sl-h5-sliders {
  display: flex;
  flex-wrap: wrap;
  gap: 10px;
  align-items: center;
}

.stagelab-h5view .sl-h5-controls input[type="number"] {
  width: 7em;
}

.stagelab-h5view .sl-h5-slider {
  display: flex;
  flex-direction: column;
  min-width: 200px;
}

.stagelab-h5view .sl-h5-image canvas {
  image-rendering: pixelated;
  max-width: 100%;
}

.stagelab-h5view .sl-h5-line {
  width: 100%;
}

/* H5View opened from the file browser: a main-area panel of its own. */
.stagelab-h5file {
  overflow: auto;
  padding: 8px;
  background: var(--jp-layout-color0);
}

.stagelab-h5file-status {
  color: var(--jp-ui-font-color2);
}
`,""]),a.d(t,{},{A:i})},278(e){e.exports=function(e){var t=[];return t.toString=function(){return this.map(function(t){var a="",r=void 0!==t[5];return t[4]&&(a+="@supports (".concat(t[4],") {")),t[2]&&(a+="@media ".concat(t[2]," {")),r&&(a+="@layer".concat(t[5].length>0?" ".concat(t[5]):""," {")),a+=e(t),r&&(a+="}"),t[2]&&(a+="}"),t[4]&&(a+="}"),a}).join("")},t.i=function(e,a,r,o,n){"string"==typeof e&&(e=[[null,e,void 0]]);var i={};if(r)for(var l=0;l<this.length;l++){var s=this[l][0];null!=s&&(i[s]=!0)}for(var c=0;c<e.length;c++){var p=[].concat(e[c]);r&&i[p[0]]||(void 0!==n&&(void 0===p[5]||(p[1]="@layer".concat(p[5].length>0?" ".concat(p[5]):""," {").concat(p[1],"}")),p[5]=n),a&&(p[2]&&(p[1]="@media ".concat(p[2]," {").concat(p[1],"}")),p[2]=a),o&&(p[4]?(p[1]="@supports (".concat(p[4],") {").concat(p[1],"}"),p[4]=o):p[4]="".concat(o)),t.push(p))}},t}},8645(e){e.exports=function(e){return e[1]}},4603(e,t,a){a.r(t);var r=a(5292),o=a.n(r),n=a(9893),i=a.n(n),l=a(9383),s=a.n(l),c=a(6884),p=a.n(c),d=a(9088),u=a.n(d),f=a(7997),h=a.n(f),v=a(802),g={};g.styleTagTransform=h(),g.setAttributes=p(),g.insert=s().bind(null,"head"),g.domAPI=i(),g.insertStyleElement=u(),o()(v.A,g);let b=v.A&&v.A.locals?v.A.locals:void 0;a.d(t,{},{default:b})},5292(e){var t=[];function a(e){for(var a=-1,r=0;r<t.length;r++)if(t[r].identifier===e){a=r;break}return a}function r(e,r){for(var o={},n=[],i=0;i<e.length;i++){var l=e[i],s=r.base?l[0]+r.base:l[0],c=o[s]||0,p="".concat(s," ").concat(c);o[s]=c+1;var d=a(p),u={css:l[1],media:l[2],sourceMap:l[3],supports:l[4],layer:l[5]};if(-1!==d)t[d].references++,t[d].updater(u);else{var f=function(e,t){var a=t.domAPI(t);return a.update(e),function(t){t?(t.css!==e.css||t.media!==e.media||t.sourceMap!==e.sourceMap||t.supports!==e.supports||t.layer!==e.layer)&&a.update(e=t):a.remove()}}(u,r);r.byIndex=i,t.splice(i,0,{identifier:p,updater:f,references:1})}n.push(p)}return n}e.exports=function(e,o){var n=r(e=e||[],o=o||{});return function(e){e=e||[];for(var i=0;i<n.length;i++){var l=a(n[i]);t[l].references--}for(var s=r(e,o),c=0;c<n.length;c++){var p=a(n[c]);0===t[p].references&&(t[p].updater(),t.splice(p,1))}n=s}}},9383(e){var t={};e.exports=function(e,a){var r=function(e){if(void 0===t[e]){var a=document.querySelector(e);if(window.HTMLIFrameElement&&a instanceof window.HTMLIFrameElement)try{a=a.contentDocument.head}catch(e){a=null}t[e]=a}return t[e]}(e);if(!r)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");r.appendChild(a)}},9088(e){e.exports=function(e){var t=document.createElement("style");return e.setAttributes(t,e.attributes),e.insert(t,e.options),t}},6884(e,t,a){e.exports=function(e){var t=a.nc;t&&e.setAttribute("nonce",t)}},9893(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var t=e.insertStyleElement(e);return{update:function(a){var r,o,n;r="",a.supports&&(r+="@supports (".concat(a.supports,") {")),a.media&&(r+="@media ".concat(a.media," {")),(o=void 0!==a.layer)&&(r+="@layer".concat(a.layer.length>0?" ".concat(a.layer):""," {")),r+=a.css,o&&(r+="}"),a.media&&(r+="}"),a.supports&&(r+="}"),(n=a.sourceMap)&&"u">typeof btoa&&(r+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(n))))," */")),e.styleTagTransform(r,t,e.options)},remove:function(){var e;null===(e=t).parentNode||e.parentNode.removeChild(e)}}}},7997(e){e.exports=function(e,t){if(t.styleSheet)t.styleSheet.cssText=e;else{for(;t.firstChild;)t.removeChild(t.firstChild);t.appendChild(document.createTextNode(e))}}}}]);