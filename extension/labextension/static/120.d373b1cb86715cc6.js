"use strict";(self.rspackChunk_stagelab_jupyterlab=self.rspackChunk_stagelab_jupyterlab||[]).push([[120],{6830(e,a,t){var l=t(8645),o=t.n(l),r=t(278),s=(t.n(r))()(o());s.push([e.id,`/* The CubeFit widgets: PrefitSnapshot (four prefit panels) and FitDashboard (fit metrics and
   the current solution); shared rules: index.css. */
.stagelab-cubefit .sl-cf-header {
  flex-wrap: wrap;
}

.stagelab-cubefit .sl-cf-file,
.stagelab-cubefit .sl-cf-meta,
.stagelab-cubefit .sl-cf-caption,
.stagelab-cubefit .sl-fd-run-text {
  overflow-wrap: anywhere;
}

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
`,""]),t.d(a,{},{A:s})},8811(e,a,t){var l=t(8645),o=t.n(l),r=t(278),s=(t.n(r))()(o());s.push([e.id,`/* FftExplorer: four linked panels over a super-resolution cache's bigFT (shared rules:
   index.css). */
.stagelab-fftexplorer .sl-fx-header {
  flex-wrap: wrap;
}

.stagelab-fftexplorer .sl-fx-file,
.stagelab-fftexplorer .sl-fx-meta {
  overflow-wrap: anywhere;
}

.stagelab-fftexplorer .sl-fx-blocks,
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
  display: inline-block;
  /* Pending values are transparent: they show this hatch. */
  background: repeating-linear-gradient(
    45deg,
    var(--jp-layout-color2),
    var(--jp-layout-color2) 4px,
    var(--jp-layout-color3) 4px,
    var(--jp-layout-color3) 8px
  );
}
`,""]),t.d(a,{},{A:s})},802(e,a,t){var l=t(8645),o=t.n(l),r=t(278),s=t.n(r),i=t(2197),n=t(8811),p=t(6830),f=s()(o());f.i(i.A),f.i(n.A),f.i(p.A),f.push([e.id,`/* Styles of the @stagelab/widgets views (loaded by JupyterLab through package.json "style"). */

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

/* What the views share (H5View, VoxelView, FftExplorer, the CubeFit views): a column whose
   theme colours come from JupyterLab's CSS variables, so the views follow the light and dark
   themes; a header with a status (shared/controls.ts FollowHeader); a readout of fields
   (buildFields); images with an overlay (shared/raster.ts RasterCanvas). Single classes: the
   views' own rules (two classes) add to them and win. */
.sl-view {
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

.sl-header {
  display: flex;
  align-items: center;
  gap: 10px;
  font-weight: 600;
}

.sl-status {
  font-weight: normal;
  color: var(--jp-ui-font-color2);
}

.sl-key {
  color: var(--jp-ui-font-color2);
}

.sl-fields {
  display: flex;
  flex-wrap: wrap;
  gap: 4px 14px;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
}

.sl-raster-stack {
  position: relative;
  line-height: 0;
}

.sl-raster-image {
  image-rendering: pixelated;
  cursor: crosshair;
}

.sl-raster-image:focus-visible {
  outline: 2px solid var(--jp-brand-color1);
}

.sl-raster-overlay {
  position: absolute;
  left: 0;
  top: 0;
  pointer-events: none;
}

/* H5View: a live HDF5 browser. */
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
`,""]),t.d(a,{},{A:f})},2197(e,a,t){var l=t(8645),o=t.n(l),r=t(278),s=(t.n(r))()(o());s.push([e.id,`/* VoxelView: three linked planes through a merged 3-d map (shared rules: index.css). */
.stagelab-voxelview .sl-vx-file,
.stagelab-voxelview .sl-vx-meta {
  overflow-wrap: anywhere;
}

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
  /* Empty voxels (no data) are transparent: show them as a checkerboard-free neutral. */
  background: var(--jp-layout-color2);
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
  max-width: 520px;
}
`,""]),t.d(a,{},{A:s})},278(e){e.exports=function(e){var a=[];return a.toString=function(){return this.map(function(a){var t="",l=void 0!==a[5];return a[4]&&(t+="@supports (".concat(a[4],") {")),a[2]&&(t+="@media ".concat(a[2]," {")),l&&(t+="@layer".concat(a[5].length>0?" ".concat(a[5]):""," {")),t+=e(a),l&&(t+="}"),a[2]&&(t+="}"),a[4]&&(t+="}"),t}).join("")},a.i=function(e,t,l,o,r){"string"==typeof e&&(e=[[null,e,void 0]]);var s={};if(l)for(var i=0;i<this.length;i++){var n=this[i][0];null!=n&&(s[n]=!0)}for(var p=0;p<e.length;p++){var f=[].concat(e[p]);l&&s[f[0]]||(void 0!==r&&(void 0===f[5]||(f[1]="@layer".concat(f[5].length>0?" ".concat(f[5]):""," {").concat(f[1],"}")),f[5]=r),t&&(f[2]&&(f[1]="@media ".concat(f[2]," {").concat(f[1],"}")),f[2]=t),o&&(f[4]?(f[1]="@supports (".concat(f[4],") {").concat(f[1],"}"),f[4]=o):f[4]="".concat(o)),a.push(f))}},a}},8645(e){e.exports=function(e){return e[1]}},4603(e,a,t){t.r(a);var l=t(5292),o=t.n(l),r=t(9893),s=t.n(r),i=t(9383),n=t.n(i),p=t(6884),f=t.n(p),c=t(9088),d=t.n(c),v=t(7997),u=t.n(v),x=t(802),g={};g.styleTagTransform=u(),g.setAttributes=f(),g.insert=n().bind(null,"head"),g.domAPI=s(),g.insertStyleElement=d(),o()(x.A,g);let b=x.A&&x.A.locals?x.A.locals:void 0;t.d(a,{},{default:b})},5292(e){var a=[];function t(e){for(var t=-1,l=0;l<a.length;l++)if(a[l].identifier===e){t=l;break}return t}function l(e,l){for(var o={},r=[],s=0;s<e.length;s++){var i=e[s],n=l.base?i[0]+l.base:i[0],p=o[n]||0,f="".concat(n," ").concat(p);o[n]=p+1;var c=t(f),d={css:i[1],media:i[2],sourceMap:i[3],supports:i[4],layer:i[5]};if(-1!==c)a[c].references++,a[c].updater(d);else{var v=function(e,a){var t=a.domAPI(a);return t.update(e),function(a){a?(a.css!==e.css||a.media!==e.media||a.sourceMap!==e.sourceMap||a.supports!==e.supports||a.layer!==e.layer)&&t.update(e=a):t.remove()}}(d,l);l.byIndex=s,a.splice(s,0,{identifier:f,updater:v,references:1})}r.push(f)}return r}e.exports=function(e,o){var r=l(e=e||[],o=o||{});return function(e){e=e||[];for(var s=0;s<r.length;s++){var i=t(r[s]);a[i].references--}for(var n=l(e,o),p=0;p<r.length;p++){var f=t(r[p]);0===a[f].references&&(a[f].updater(),a.splice(f,1))}r=n}}},9383(e){var a={};e.exports=function(e,t){var l=function(e){if(void 0===a[e]){var t=document.querySelector(e);if(window.HTMLIFrameElement&&t instanceof window.HTMLIFrameElement)try{t=t.contentDocument.head}catch(e){t=null}a[e]=t}return a[e]}(e);if(!l)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");l.appendChild(t)}},9088(e){e.exports=function(e){var a=document.createElement("style");return e.setAttributes(a,e.attributes),e.insert(a,e.options),a}},6884(e,a,t){e.exports=function(e){var a=t.nc;a&&e.setAttribute("nonce",a)}},9893(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var a=e.insertStyleElement(e);return{update:function(t){var l,o,r;l="",t.supports&&(l+="@supports (".concat(t.supports,") {")),t.media&&(l+="@media ".concat(t.media," {")),(o=void 0!==t.layer)&&(l+="@layer".concat(t.layer.length>0?" ".concat(t.layer):""," {")),l+=t.css,o&&(l+="}"),t.media&&(l+="}"),t.supports&&(l+="}"),(r=t.sourceMap)&&"u">typeof btoa&&(l+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(r))))," */")),e.styleTagTransform(l,a,e.options)},remove:function(){var e;null===(e=a).parentNode||e.parentNode.removeChild(e)}}}},7997(e){e.exports=function(e,a){if(a.styleSheet)a.styleSheet.cssText=e;else{for(;a.firstChild;)a.removeChild(a.firstChild);a.appendChild(document.createTextNode(e))}}}}]);