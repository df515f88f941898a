"use strict";(self.rspackChunk_stagelab_jupyterlab=self.rspackChunk_stagelab_jupyterlab||[]).push([[120],{6830(e,a,t){var l=t(8645),o=t.n(l),r=t(278),i=(t.n(r))()(o());i.push([e.id,`/* The CubeFit widgets: PrefitSnapshot (four prefit panels) and FitDashboard (fit metrics and
   the current solution). Theme colours come from JupyterLab's CSS variables, so the views
   follow the light and dark themes. */
.stagelab-cubefit {
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

.stagelab-cubefit .sl-cf-header {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 10px;
  font-weight: 600;
}

.stagelab-cubefit .sl-cf-file,
.stagelab-cubefit .sl-cf-meta,
.stagelab-cubefit .sl-cf-caption,
.stagelab-cubefit .sl-fd-run-text {
  overflow-wrap: anywhere;
}

.stagelab-cubefit .sl-cf-status,
.stagelab-cubefit .sl-pf-tiles,
.stagelab-cubefit .sl-cf-meta,
.stagelab-cubefit .sl-cf-caption,
.stagelab-cubefit .sl-cf-export-status {
  font-weight: normal;
  color: var(--jp-ui-font-color2);
}

.stagelab-cubefit .sl-cf-meta {
  white-space: pre-wrap;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
}

.stagelab-cubefit .sl-cf-controls {
  display: flex;
  flex-wrap: wrap;
  gap: 14px;
  align-items: center;
}

.stagelab-cubefit .sl-cf-controls input[type="number"] {
  width: 5em;
}

.stagelab-cubefit .sl-cf-card {
  display: flex;
  flex-direction: column;
  gap: 4px;
  padding: 6px 0;
  border-top: var(--jp-border-width) solid var(--jp-border-color2);
}

.stagelab-cubefit .sl-cf-card-head {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 8px;
}

.stagelab-cubefit .sl-cf-card-title {
  font-weight: 600;
  margin-right: 6px;
}

.stagelab-cubefit .sl-cf-chart {
  max-width: 100%;
  overflow-x: auto;
}

.stagelab-cubefit .sl-cf-caption,
.stagelab-cubefit .sl-cf-readout {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  white-space: pre-wrap;
}

.stagelab-cubefit .sl-cf-readout {
  min-height: 1.4em;
}

.stagelab-cubefit .sl-cf-readout[data-active="false"] {
  color: var(--jp-ui-font-color2);
}

.stagelab-cubefit .sl-pf-info {
  margin: 1px 0;
}

.stagelab-cubefit .sl-fd-runs {
  list-style: none;
  margin: 0;
  padding: 0;
  display: flex;
  flex-direction: column;
  gap: 2px;
}

.stagelab-cubefit .sl-fd-run {
  display: flex;
  align-items: center;
  gap: 6px;
}

.stagelab-cubefit .sl-fd-swatch {
  display: inline-block;
  width: 10px;
  height: 10px;
  border-radius: 2px;
  flex: 0 0 auto;
}
`,""]),t.d(a,{},{A:i})},8811(e,a,t){var l=t(8645),o=t.n(l),r=t(278),i=(t.n(r))()(o());i.push([e.id,`/* FftExplorer: four linked panels over a super-resolution cache's bigFT. Theme colours come
   from JupyterLab's CSS variables, so the view follows the light and dark themes. */
.stagelab-fftexplorer {
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

.stagelab-fftexplorer .sl-fx-header {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 10px;
  font-weight: 600;
}

.stagelab-fftexplorer .sl-fx-file,
.stagelab-fftexplorer .sl-fx-meta {
  overflow-wrap: anywhere;
}

.stagelab-fftexplorer .sl-fx-blocks,
.stagelab-fftexplorer .sl-fx-status,
.stagelab-fftexplorer .sl-fx-meta,
.stagelab-fftexplorer .sl-fx-note,
.stagelab-fftexplorer .sl-fx-mask-count {
  font-weight: normal;
  color: var(--jp-ui-font-color2);
}

.stagelab-fftexplorer .sl-fx-controls,
.stagelab-fftexplorer .sl-fx-mask,
.stagelab-fftexplorer .sl-fx-proceed-box {
  display: flex;
  flex-wrap: wrap;
  gap: 8px;
  align-items: center;
}

.stagelab-fftexplorer .sl-fx-controls {
  gap: 14px;
}

.stagelab-fftexplorer .sl-fx-proceed {
  font-weight: 600;
}

.stagelab-fftexplorer .sl-fx-proceed-status[data-status="error"] {
  color: var(--jp-error-color1);
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}

.stagelab-fftexplorer .sl-fx-grid {
  display: grid;
  grid-template-columns: repeat(2, max-content);
  gap: 10px 14px;
  align-items: start;
}

.stagelab-fftexplorer .sl-fx-title,
.stagelab-fftexplorer .sl-fx-note {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  margin: 2px 0;
}

.stagelab-fftexplorer .sl-fx-stack {
  position: relative;
  display: inline-block;
  line-height: 0;
  /* Pending values are transparent: they show this hatch. */
  background: repeating-linear-gradient(
    45deg,
    var(--jp-layout-color2),
    var(--jp-layout-color2) 4px,
    var(--jp-layout-color3) 4px,
    var(--jp-layout-color3) 8px
  );
}

.stagelab-fftexplorer .sl-fx-image {
  image-rendering: pixelated;
  cursor: crosshair;
}

.stagelab-fftexplorer .sl-fx-image:focus-visible {
  outline: 2px solid var(--jp-brand-color1);
}

.stagelab-fftexplorer .sl-fx-overlay {
  position: absolute;
  left: 0;
  top: 0;
  pointer-events: none;
}

.stagelab-fftexplorer .sl-fx-readout {
  display: flex;
  flex-wrap: wrap;
  gap: 4px 14px;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
}

.stagelab-fftexplorer .sl-fx-key {
  color: var(--jp-ui-font-color2);
}
`,""]),t.d(a,{},{A:i})},802(e,a,t){var l=t(8645),o=t.n(l),r=t(278),i=t.n(r),s=t(2197),n=t(8811),f=t(6830),p=i()(o());p.i(s.A),p.i(n.A),p.i(f.A),p.push([e.id,`/* Styles of the @stagelab/widgets views (loaded by JupyterLab through package.json "style"). */

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
`,""]),t.d(a,{},{A:p})},2197(e,a,t){var l=t(8645),o=t.n(l),r=t(278),i=(t.n(r))()(o());i.push([e.id,`/* VoxelView: three linked planes through a merged 3-d map. Theme colours come from
   JupyterLab's CSS variables, so the view follows the light and dark themes. */
.stagelab-voxelview {
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

.stagelab-voxelview .sl-vx-header {
  display: flex;
  align-items: center;
  gap: 10px;
  font-weight: 600;
}

.stagelab-voxelview .sl-vx-file,
.stagelab-voxelview .sl-vx-meta {
  overflow-wrap: anywhere;
}

.stagelab-voxelview .sl-vx-status,
.stagelab-voxelview .sl-vx-meta {
  font-weight: normal;
  color: var(--jp-ui-font-color2);
}

.stagelab-voxelview .sl-vx-controls,
.stagelab-voxelview .sl-vx-sliders,
.stagelab-voxelview .sl-vx-planes,
.stagelab-voxelview .sl-vx-bottom {
  display: flex;
  flex-wrap: wrap;
  gap: 10px;
  align-items: center;
}

.stagelab-voxelview .sl-vx-controls input[type="number"] {
  width: 7em;
}

.stagelab-voxelview .sl-vx-slider {
  display: flex;
  flex-direction: column;
  min-width: 220px;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  white-space: pre;
}

.stagelab-voxelview .sl-vx-planes {
  align-items: flex-start;
}

.stagelab-voxelview .sl-vx-plane-title {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  margin-bottom: 2px;
}

.stagelab-voxelview .sl-vx-plot {
  display: grid;
  grid-template-columns: auto auto auto;
  grid-template-rows: auto auto auto;
  column-gap: 2px;
  font-family: var(--jp-code-font-family);
  font-size: calc(var(--jp-code-font-size) * 0.85);
  color: var(--jp-ui-font-color2);
}

.stagelab-voxelview .sl-vx-ylabel {
  align-self: center;
  font-style: italic;
}

.stagelab-voxelview .sl-vx-xlabel {
  justify-self: center;
  font-style: italic;
}

.stagelab-voxelview .sl-vx-yticks,
.stagelab-voxelview .sl-vx-xticks {
  position: relative;
}

.stagelab-voxelview .sl-vx-yticks {
  min-width: 3.2em;
}

.stagelab-voxelview .sl-vx-xticks {
  height: 1.3em;
}

.stagelab-voxelview .sl-vx-yticks span,
.stagelab-voxelview .sl-vx-xticks span {
  position: absolute;
  white-space: nowrap;
}

.stagelab-voxelview .sl-vx-yticks span {
  right: 2px;
  transform: translateY(-50%);
}

.stagelab-voxelview .sl-vx-xticks span {
  top: 0;
  transform: translateX(-50%);
}

.stagelab-voxelview .sl-vx-stack {
  position: relative;
  line-height: 0;
  /* Empty voxels (no data) are transparent: show them as a checkerboard-free neutral. */
  background: var(--jp-layout-color2);
}

.stagelab-voxelview .sl-vx-image {
  image-rendering: pixelated;
  cursor: crosshair;
}

.stagelab-voxelview .sl-vx-image:focus-visible {
  outline: 2px solid var(--jp-brand-color1);
}

.stagelab-voxelview .sl-vx-crosshair {
  position: absolute;
  left: 0;
  top: 0;
  pointer-events: none;
}

.stagelab-voxelview .sl-vx-histogram canvas {
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  cursor: pointer;
}

.stagelab-voxelview .sl-vx-hist-axis {
  display: flex;
  justify-content: space-between;
  width: 260px;
  font-family: var(--jp-code-font-family);
  font-size: calc(var(--jp-code-font-size) * 0.85);
  color: var(--jp-ui-font-color2);
}

.stagelab-voxelview .sl-vx-readout {
  display: flex;
  flex-wrap: wrap;
  gap: 4px 14px;
  max-width: 520px;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
}

.stagelab-voxelview .sl-vx-key {
  color: var(--jp-ui-font-color2);
}
`,""]),t.d(a,{},{A:i})},278(e){e.exports=function(e){var a=[];return a.toString=function(){return this.map(function(a){var t="",l=void 0!==a[5];return a[4]&&(t+="@supports (".concat(a[4],") {")),a[2]&&(t+="@media ".concat(a[2]," {")),l&&(t+="@layer".concat(a[5].length>0?" ".concat(a[5]):""," {")),t+=e(a),l&&(t+="}"),a[2]&&(t+="}"),a[4]&&(t+="}"),t}).join("")},a.i=function(e,t,l,o,r){"string"==typeof e&&(e=[[null,e,void 0]]);var i={};if(l)for(var s=0;s<this.length;s++){var n=this[s][0];null!=n&&(i[n]=!0)}for(var f=0;f<e.length;f++){var p=[].concat(e[f]);l&&i[p[0]]||(void 0!==r&&(void 0===p[5]||(p[1]="@layer".concat(p[5].length>0?" ".concat(p[5]):""," {").concat(p[1],"}")),p[5]=r),t&&(p[2]&&(p[1]="@media ".concat(p[2]," {").concat(p[1],"}")),p[2]=t),o&&(p[4]?(p[1]="@supports (".concat(p[4],") {").concat(p[1],"}"),p[4]=o):p[4]="".concat(o)),a.push(p))}},a}},8645(e){e.exports=function(e){return e[1]}},4603(e,a,t){t.r(a);var l=t(5292),o=t.n(l),r=t(9893),i=t.n(r),s=t(9383),n=t.n(s),f=t(6884),p=t.n(f),c=t(9088),d=t.n(c),v=t(7997),x=t.n(v),u=t(802),g={};g.styleTagTransform=x(),g.setAttributes=p(),g.insert=n().bind(null,"head"),g.domAPI=i(),g.insertStyleElement=d(),o()(u.A,g);let b=u.A&&u.A.locals?u.A.locals:void 0;t.d(a,{},{default:b})},5292(e){var a=[];function t(e){for(var t=-1,l=0;l<a.length;l++)if(a[l].identifier===e){t=l;break}return t}function l(e,l){for(var o={},r=[],i=0;i<e.length;i++){var s=e[i],n=l.base?s[0]+l.base:s[0],f=o[n]||0,p="".concat(n," ").concat(f);o[n]=f+1;var c=t(p),d={css:s[1],media:s[2],sourceMap:s[3],supports:s[4],layer:s[5]};if(-1!==c)a[c].references++,a[c].updater(d);else{var v=function(e,a){var t=a.domAPI(a);return t.update(e),function(a){a?(a.css!==e.css||a.media!==e.media||a.sourceMap!==e.sourceMap||a.supports!==e.supports||a.layer!==e.layer)&&t.update(e=a):t.remove()}}(d,l);l.byIndex=i,a.splice(i,0,{identifier:p,updater:v,references:1})}r.push(p)}return r}e.exports=function(e,o){var r=l(e=e||[],o=o||{});return function(e){e=e||[];for(var i=0;i<r.length;i++){var s=t(r[i]);a[s].references--}for(var n=l(e,o),f=0;f<r.length;f++){var p=t(r[f]);0===a[p].references&&(a[p].updater(),a.splice(p,1))}r=n}}},9383(e){var a={};e.exports=function(e,t){var l=function(e){if(void 0===a[e]){var t=document.querySelector(e);if(window.HTMLIFrameElement&&t instanceof window.HTMLIFrameElement)try{t=t.contentDocument.head}catch(e){t=null}a[e]=t}return a[e]}(e);if(!l)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");l.appendChild(t)}},9088(e){e.exports=function(e){var a=document.createElement("style");return e.setAttributes(a,e.attributes),e.insert(a,e.options),a}},6884(e,a,t){e.exports=function(e){var a=t.nc;a&&e.setAttribute("nonce",a)}},9893(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var a=e.insertStyleElement(e);return{update:function(t){var l,o,r;l="",t.supports&&(l+="@supports (".concat(t.supports,") {")),t.media&&(l+="@media ".concat(t.media," {")),(o=void 0!==t.layer)&&(l+="@layer".concat(t.layer.length>0?" ".concat(t.layer):""," {")),l+=t.css,o&&(l+="}"),t.media&&(l+="}"),t.supports&&(l+="}"),(r=t.sourceMap)&&"u">typeof btoa&&(l+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(r))))," */")),e.styleTagTransform(l,a,e.options)},remove:function(){var e;null===(e=a).parentNode||e.parentNode.removeChild(e)}}}},7997(e){e.exports=function(e,a){if(a.styleSheet)a.styleSheet.cssText=e;else{for(;a.firstChild;)a.removeChild(a.firstChild);a.appendChild(document.createTextNode(e))}}}}]);