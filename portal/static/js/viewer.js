// Diagnostic viewer (#19). Each pane shows the server's 8-bit preview at once, then fetches the stored pixel
// values at full resolution (/studies/<id>/pixels/: zlib, u32 header length, JSON header, uint16/int16 values)
// and draws them on a canvas through a window/level LUT computed here, on the raw values, as DICOM PS3.3
// C.11.2.1.2 defines it (LINEAR, LINEAR_EXACT, SIGMOID), starting from the file's own window.
// Zoom (to 1:1 and beyond), pan, invert, reset, distance measurement (mm from Pixel Spacing, else px),
// the heatmap as an optional layer (off by default, not fetched until turned on), linked zoom/pan between
// the current study and a comparison, keyboard shortcuts with a help dialog. Re-run after panels swap in.
"use strict";

window.airspace = window.airspace || {};

(function () {
  const MAX_ZOOM = 16; // relative to fit
  // A film above the page's pixel budget (data-budget) loads as an overview, every n-th stored value, and,
  // once zoomed past it, the region in view at full resolution (at most DETAIL_BUDGET pixels, about a 4K
  // screen): a tab holds ≤ budget + DETAIL_BUDGET pixels per pane whatever the film's size.
  const DETAIL_BUDGET = 4_194_304;
  const stepFor = (w, h, budget) => {
    let step = 1;
    while (Math.ceil(w / step) * Math.ceil(h / step) > budget) step += 1;
    return step;
  };
  const dpr = () => window.devicePixelRatio || 1;
  const panes = [];
  let activePane = null;

  // --- window/level: DICOM PS3.3 C.11.2.1.2, output 0..255 ----------------------------------------------
  function voi(x, center, width, fn) {
    if (fn === "SIGMOID") return 255 / (1 + Math.exp((-4 * (x - center)) / width));
    if (fn === "LINEAR_EXACT") {
      if (x <= center - width / 2) return 0;
      if (x > center + width / 2) return 255;
      return ((x - center) / width + 0.5) * 255;
    }
    if (x <= center - 0.5 - (width - 1) / 2) return 0;
    if (x > center - 0.5 + (width - 1) / 2) return 255;
    return ((x - (center - 0.5)) / (width - 1) + 0.5) * 255;
  }
  window.airspace.voi = voi; // the browser test checks rendered pixels against this formula

  // Window values as a reader reads them: whole numbers on a 16-bit scale, one decimal on a small one.
  const tidy = (value) => (Math.abs(value) >= 100 ? Math.round(value) : +value.toFixed(1));

  function partUrl(base, params) {
    const url = new URL(base, window.location.href);
    Object.entries(params).forEach(([name, value]) => url.searchParams.set(name, String(value)));
    return url.pathname + url.search;
  }

  // One window/level table over a part's stored range (modality LUT, VOI, photometric, invert).
  function lutFor(header, wl) {
    const { center, width, invert } = wl;
    const fn = header.voi_function;
    const flip = (header.photometric === "MONOCHROME1") !== invert;
    const size = header.max - header.min + 1;
    const lut = new Uint32Array(size);
    const table = wl.table ? header.voi_lut : null;
    const tableTop = table ? 2 ** table.bits - 1 : 1;
    for (let i = 0; i < size; i += 1) {
      const modality = (header.min + i) * header.slope + header.intercept;
      let y;
      if (table) { // PS3.3 C.11.2.1.1: below the first input the first entry, above the table the last
        const at = Math.max(0, Math.min(table.data.length - 1, Math.round(modality) - table.first));
        y = Math.round((table.data[at] * 255) / tableTop);
      } else y = Math.round(voi(modality, center, Math.max(1, width), fn));
      if (flip) y = 255 - y;
      lut[i] = 0xff000000 | (y << 16) | (y << 8) | y;
    }
    return lut;
  }

  function paint(part, wl) {
    const { header, values } = part.data;
    const lut = lutFor(header, wl);
    const out = part.pixels32;
    const offset = header.min;
    for (let i = 0; i < values.length; i += 1) out[i] = lut[values[i] - offset];
    part.canvas.getContext("2d").putImageData(part.image, 0, 0);
  }

  async function fetchPixels(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } });
    if (!response.ok) throw new Error((await response.text()) || `HTTP ${response.status}`);
    const inflated = response.body.pipeThrough(new DecompressionStream("deflate"));
    const buffer = await new Response(inflated).arrayBuffer();
    const length = new DataView(buffer).getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
    const Typed = header.dtype === "int16" ? Int16Array : Uint16Array;
    return { header, values: new Typed(buffer, 4 + length, header.width * header.height) };
  }

  class Pane {
    constructor(stage) {
      this.stage = stage;
      this.layer = stage.querySelector("[data-pan]");
      this.preview = stage.querySelector("[data-preview]");
      this.canvas = stage.querySelector("[data-canvas]");
      this.heat = stage.querySelector("img.overlay");
      this.svg = stage.querySelector("[data-measure]");
      this.hud = stage.querySelector("[data-hud]");
      this.w = parseInt(stage.dataset.width, 10) || 1;
      this.h = parseInt(stage.dataset.height, 10) || 1;
      this.budget = parseInt(stage.dataset.budget, 10) || Infinity;
      this.detail = null; // the region in view at full resolution, on a film loaded as an overview
      this.detailTimer = null;
      this.view = { rel: 1, cx: 0.5, cy: 0.5 }; // zoom relative to fit; image point (0..1) at the centre
      this.wl = null; // { center, width, invert, preset }
      this.data = null;
      this.measure = null; // image coordinates { x0, y0, x1, y1 }
      this.status = "Preview — loading full resolution…";
      [this.preview, this.canvas, this.heat].forEach((node) => {
        if (node) { node.style.width = `${this.w}px`; node.style.height = `${this.h}px`; }
      });
      this.analysed = true; // the view the AI analysed: the only one its heatmap may overlay
      this.generation = 0;
      this.layout();
      this.loadAfterPreview();
    }

    // The preview paints first: the full data is asked for once it is in (they would share the server).
    loadAfterPreview() {
      const generation = this.generation;
      const go = () => { if (generation === this.generation) this.load(); };
      if (this.preview.complete && this.preview.naturalWidth) go();
      else ["load", "error"].forEach((name) => this.preview.addEventListener(name, go, { once: true }));
    }

    // Another view of the same study (a lateral beside the analysed frontal): preview, then full data.
    switchView(view) {
      this.generation += 1;
      this.dropDetail();
      Object.assign(this, { data: null, wl: null, measure: null, loading: false, analysed: view.analysed === "1" });
      this.w = parseInt(view.width, 10) || 1;
      this.h = parseInt(view.height, 10) || 1;
      this.stage.dataset.pixels = view.pixels;
      this.stage.dataset.state = "preview";
      this.status = "Preview — loading full resolution…";
      this.canvas.hidden = true;
      this.preview.hidden = false;
      [this.preview, this.canvas, this.heat].forEach((node) => {
        if (node) { node.style.width = `${this.w}px`; node.style.height = `${this.h}px`; }
      });
      this.preview.src = view.preview;
      this.view = { rel: 1, cx: 0.5, cy: 0.5 };
      this.layout();
      this.loadAfterPreview();
    }

    fit() {
      return Math.min(this.stage.clientWidth / this.w, this.stage.clientHeight / this.h) || 1;
    }

    scale() { return this.view.rel * this.fit(); }

    origin() {
      const s = this.scale();
      return { x: this.stage.clientWidth / 2 - this.view.cx * this.w * s, y: this.stage.clientHeight / 2 - this.view.cy * this.h * s, s };
    }

    layout() {
      const { x, y, s } = this.origin();
      this.layer.style.transform = `translate(${x}px, ${y}px) scale(${s})`;
      this.stage.classList.toggle("pixelated", s * dpr() >= 2);
      this.drawMeasure();
      this.showHud();
      if (this.data && this.data.header.step > 1) {
        window.clearTimeout(this.detailTimer);
        this.detailTimer = window.setTimeout(() => this.loadDetail(), 150);
      }
    }

    // Zoomed past the overview: fetch the region in view at the resolution the screen shows (step 1 at 1:1).
    async loadDetail() {
      const overview = this.data.header.step;
      const s = this.scale() * dpr(); // screen pixels per film pixel
      const a = this.toImage(0, 0);
      const b = this.toImage(this.stage.clientWidth, this.stage.clientHeight);
      const x = Math.max(0, Math.floor(a.x)), y = Math.max(0, Math.floor(a.y));
      const w = Math.min(this.w, Math.ceil(b.x)) - x, h = Math.min(this.h, Math.ceil(b.y)) - y;
      const step = Math.max(stepFor(w, h, DETAIL_BUDGET), Math.floor(1 / s) || 1);
      if (w < 1 || h < 1 || step >= overview) { this.dropDetail(); return; }
      const held = this.detail && this.detail.data.header;
      if (held && held.step <= step && held.x <= x && held.y <= y && held.x + held.w >= x + w && held.y + held.h >= y + h) return;
      // A margin around the view, as far as the budget allows at this step (up to half a view on each side),
      // so that panning a little does not ask the server again.
      const grow = Math.min(2, Math.sqrt((DETAIL_BUDGET * step * step) / (w * h)));
      const mx = Math.floor(((grow - 1) * w) / 2), my = Math.floor(((grow - 1) * h) / 2);
      const px = Math.max(0, x - mx), py = Math.max(0, y - my);
      const box = { x: px, y: py, w: Math.min(this.w, x + w + mx) - px, h: Math.min(this.h, y + h + my) - py };
      const generation = this.generation;
      const asked = (this.detailAsked = `${box.x} ${box.y} ${box.w} ${box.h} ${step}`);
      let data;
      try {
        data = await fetchPixels(partUrl(this.stage.dataset.pixels, { ...box, step }));
      } catch (error) {
        return; // the overview stays on screen
      }
      if (generation !== this.generation || asked !== this.detailAsked) return; // moved on meanwhile
      data.header.w = box.w;
      data.header.h = box.h;
      this.showDetail(data);
    }

    showDetail(data) {
      const { header } = data;
      let canvas = this.detail ? this.detail.canvas : null;
      if (!canvas) {
        canvas = document.createElement("canvas");
        canvas.dataset.detail = "";
        canvas.setAttribute("aria-hidden", "true");
        this.canvas.after(canvas);
      }
      canvas.width = header.width;
      canvas.height = header.height;
      Object.assign(canvas.style, {
        left: `${header.x}px`, top: `${header.y}px`,
        width: `${header.width * header.step}px`, height: `${header.height * header.step}px`,
      });
      const image = new ImageData(header.width, header.height);
      this.detail = { data, canvas, image, pixels32: new Uint32Array(image.data.buffer) };
      paint(this.detail, this.wl);
      this.stage.dataset.detail = `${header.x} ${header.y} ${header.w} ${header.h} ${header.step}`;
      this.showHud();
    }

    dropDetail() {
      window.clearTimeout(this.detailTimer);
      this.detailAsked = null;
      if (!this.detail) return;
      this.detail.canvas.remove();
      this.detail = null;
      delete this.stage.dataset.detail;
      this.showHud();
    }

    // Screen (stage) point → image pixel coordinates.
    toImage(px, py) {
      const { x, y, s } = this.origin();
      return { x: (px - x) / s, y: (py - y) / s };
    }

    zoomTo(rel, px, py) {
      const oneToOne = 1 / (dpr() * this.fit()); // 1:1 and 8x beyond it are always reachable
      rel = Math.max(Math.min(0.5, oneToOne), Math.min(Math.max(MAX_ZOOM, 8 * oneToOne), rel));
      if (px === undefined) { this.view.rel = rel; return; }
      const point = this.toImage(px, py); // keep the image point under the pointer where it is
      this.view.rel = rel;
      const s = this.scale();
      this.view.cx = (this.stage.clientWidth / 2 - (px - point.x * s)) / (this.w * s);
      this.view.cy = (this.stage.clientHeight / 2 - (py - point.y * s)) / (this.h * s);
    }

    panBy(dx, dy) {
      const s = this.scale();
      this.view.cx = Math.max(0, Math.min(1, this.view.cx - dx / (this.w * s)));
      this.view.cy = Math.max(0, Math.min(1, this.view.cy - dy / (this.h * s)));
    }

    async load() {
      if (this.loading) return;
      this.loading = true;
      const started = performance.now();
      const generation = this.generation;
      const step = stepFor(this.w, this.h, this.budget);
      const url = step > 1 ? partUrl(this.stage.dataset.pixels, { step }) : this.stage.dataset.pixels;
      try {
        const data = await fetchPixels(url);
        if (generation !== this.generation) return; // another view was chosen meanwhile
        this.data = data;
      } catch (error) {
        if (generation !== this.generation) return;
        this.status = `Preview only: ${String(error.message || error).slice(0, 160)}`;
        this.stage.dataset.state = "preview";
        this.showHud();
        return;
      }
      const { header } = this.data;
      this.w = header.full_width || header.width; // an overview is drawn stretched over the whole film
      this.h = header.full_height || header.height;
      this.canvas.width = header.width;
      this.canvas.height = header.height;
      [this.preview, this.canvas, this.heat].forEach((node) => {
        if (node) { node.style.width = `${this.w}px`; node.style.height = `${this.h}px`; }
      });
      this.image = new ImageData(header.width, header.height);
      this.pixels32 = new Uint32Array(this.image.data.buffer);
      this.resetWindow();
      this.render();
      this.canvas.hidden = false;
      this.preview.hidden = true;
      this.stage.dataset.state = "full";
      this.stage.dataset.loadMs = String(Math.round(performance.now() - started));
      performance.mark(`airspace:full:${this.stage.closest("[data-pane]").dataset.pane}`);
      this.status = "";
      this.layout();
      if (this === activePane) syncTools();
    }

    resetWindow(index = 0) {
      const windows = this.data.header.windows;
      const chosen = windows[Math.max(0, Math.min(windows.length - 1, index))];
      const table = chosen.source === "VOI LUT" && Boolean(this.data.header.voi_lut); // the file's own table
      this.wl = { center: chosen.center, width: chosen.width, invert: this.wl ? this.wl.invert : false, preset: index, table };
    }

    // One LUT over the stored range, then one lookup per pixel: a 3,000 px film re-renders in tens of ms.
    render() {
      if (!this.data) return;
      const { invert, center, width } = this.wl;
      paint({ data: this.data, canvas: this.canvas, image: this.image, pixels32: this.pixels32 }, this.wl);
      if (this.detail) paint(this.detail, this.wl);
      this.stage.dataset.window = this.wl.table ? `table ${invert ? 1 : 0}` : `${center} ${width} ${invert ? 1 : 0}`;
      this.showHud();
    }

    spacingText(dxPx, dyPx) {
      const header = this.data && this.data.header;
      const spacing = header && header.pixel_spacing;
      if (!spacing) return `${Math.hypot(dxPx, dyPx).toFixed(1)} px (no pixel spacing in this file)`;
      const mm = Math.hypot(dxPx * spacing[1], dyPx * spacing[0]);
      const where = header.spacing_source === "ImagerPixelSpacing" ? " at the detector" : "";
      return `${mm.toFixed(1)} mm${where}`;
    }

    drawMeasure() {
      const line = this.svg.querySelector("line");
      const label = this.svg.querySelector("text");
      if (!this.measure) { this.svg.classList.remove("on"); return; }
      const { x, y, s } = this.origin();
      const m = this.measure;
      const ends = [m.x0 * s + x, m.y0 * s + y, m.x1 * s + x, m.y1 * s + y];
      ["x1", "y1", "x2", "y2"].forEach((name, i) => line.setAttribute(name, ends[i].toFixed(1)));
      label.setAttribute("x", (ends[2] + 8).toFixed(1));
      label.setAttribute("y", (ends[3] - 8).toFixed(1));
      label.textContent = this.spacingText(m.x1 - m.x0, m.y1 - m.y0);
      this.stage.dataset.measure = label.textContent;
      this.svg.classList.add("on");
    }

    zoomText() {
      const actual = this.scale() * dpr();
      return Math.abs(actual - 1) < 0.005 ? "1:1" : `${Math.round(actual * 100)}%`;
    }

    showHud() {
      const parts = [];
      if (this.status) parts.push(this.status);
      if (this.wl) parts.push(`${this.wl.table ? "file's VOI LUT" : `L ${tidy(this.wl.center)} W ${tidy(this.wl.width)}`}${this.wl.invert ? " · inverted" : ""}`);
      parts.push(this.zoomText());
      if (this.data && this.data.header.step > 1) { // say what is on screen: a sample, or every pixel in view
        const detail = this.detail && this.detail.data.header.step;
        parts.push(detail ? `in view: 1 pixel in ${detail}${detail === 1 ? " (full resolution)" : ""}` : `overview: 1 pixel in ${this.data.header.step}`);
      }
      if (this.data) {
        const { pixel_spacing: spacing, spacing_source: source } = this.data.header;
        parts.push(spacing ? `${spacing[1]} mm/px${source === "ImagerPixelSpacing" ? " at the detector" : ""}` : "no pixel spacing");
      }
      this.hud.textContent = parts.join(" · ");
    }
  }

  // --- the shared toolbar acts on the selected pane ----------------------------------------------------------
  const tools = () => document.querySelector("[data-viewer-tools]");
  const control = (selector) => (tools() ? tools().querySelector(selector) : null);
  let mode = "pan";

  function linked() {
    const box = control("[data-link]");
    return Boolean(box && box.checked);
  }

  function afterView(source) {
    source.layout();
    if (linked()) panes.filter((p) => p !== source).forEach((p) => { p.view = { ...source.view }; p.layout(); });
    syncTools();
  }

  function syncTools() {
    const pane = activePane;
    if (!pane) return;
    panes.forEach((p) => p.stage.classList.toggle("active", p === pane && panes.length > 1));
    const zoom = control("[data-zoom]");
    if (zoom) {
      zoom.value = String(pane.view.rel);
      zoom.setAttribute("aria-valuetext", pane.zoomText());
      const out = document.querySelector('[data-output="zoom"]');
      if (out) out.textContent = pane.zoomText();
    }
    const ready = Boolean(pane.data);
    ["[data-wl=center]", "[data-wl=width]", "[data-wl-preset]"].forEach((sel) => { const n = control(sel); if (n) n.disabled = !ready; });
    if (ready) {
      control("[data-wl=center]").value = String(tidy(pane.wl.center));
      control("[data-wl=width]").value = String(tidy(pane.wl.width));
      const preset = control("[data-wl-preset]");
      const names = pane.data.header.windows.map((w, i) => `<option value="${i}">${presetName(w, i, pane.data.header)}</option>`);
      preset.innerHTML = `<option value="">Presets…</option>${names.join("")}`;
      preset.value = "";
    }
    const invert = control('[data-tool="invert"]');
    if (invert) invert.setAttribute("aria-pressed", String(Boolean(pane.wl && pane.wl.invert)));
    document.querySelectorAll("button[data-mode]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.mode === mode)));
    panes.forEach((p) => { p.stage.dataset.toolMode = mode; });
    applyHeatmap();
  }

  function applyHeatmap() {
    const current = panes.find((p) => p.heat);
    if (!current) return;
    const heat = current.heat;
    const toggle = control("[data-heatmap-toggle]");
    const opacity = control("[data-heatmap-opacity]");
    const legend = document.getElementById("heatmap-legend");
    if (toggle) toggle.disabled = !current.analysed;
    const on = Boolean(toggle && toggle.checked && current.analysed);
    // Off by default: the overlay is not even fetched until the reader turns it on.
    if (on && !heat.getAttribute("src")) heat.src = heat.dataset.src;
    heat.hidden = !on;
    if (legend) legend.hidden = !on;
    heat.style.opacity = opacity ? opacity.value / 100 : 0.45;
    if (opacity) {
      opacity.disabled = !on;
      const out = document.querySelector('[data-output="heatmap-opacity"]');
      if (out) out.textContent = `${opacity.value}%`;
    }
  }

  function presetName(w, i, header) {
    if (w.source === "VOI LUT" && header.voi_lut) return "File VOI LUT";
    const name = { "full range": "Full range", "as stored": "As stored", "VOI LUT": "VOI LUT range" }[w.source] || `File window ${i + 1}`;
    return `${name}: L ${tidy(w.center)} W ${tidy(w.width)}`;
  }

  function setWindow(pane, center, width) {
    if (!pane || !pane.data) return;
    pane.wl.center = center;
    pane.wl.width = Math.max(1, width);
    pane.wl.table = false; // a window typed or dragged replaces the file's table
    pane.render();
    syncTools();
  }

  function resetPane(pane) {
    pane.view = { rel: 1, cx: 0.5, cy: 0.5 };
    pane.measure = null;
    if (pane.data) { pane.wl.invert = false; pane.resetWindow(0); pane.render(); }
    afterView(pane);
    say("Viewer reset");
  }

  function say(text) { if (window.airspace.announce) window.airspace.announce(text); }

  function setMode(next) {
    mode = next;
    syncTools();
    say({ pan: "Pan", window: "Window drag: left–right window, up–down level", measure: "Measure: drag across the image" }[next]);
  }

  function cyclePreset(pane, step) {
    if (!pane.data) return;
    const count = pane.data.header.windows.length;
    pane.resetWindow((pane.wl.preset + step + count) % count);
    pane.render();
    syncTools();
  }

  function wireToolbar() {
    const bar = tools();
    if (!bar || bar.dataset.ready === "1") return;
    bar.dataset.ready = "1";
    bar.querySelectorAll("[data-zoom-step]").forEach((b) => b.addEventListener("click", () => {
      const pane = activePane;
      pane.zoomTo(pane.view.rel * parseFloat(b.dataset.zoomStep));
      afterView(pane);
    }));
    const zoom = control("[data-zoom]");
    if (zoom) zoom.addEventListener("input", () => { activePane.zoomTo(parseFloat(zoom.value)); afterView(activePane); });
    ["center", "width"].forEach((name) => {
      const input = control(`[data-wl=${name}]`);
      input.addEventListener("change", () => {
        const value = parseFloat(input.value);
        if (!Number.isFinite(value)) return syncTools();
        const pane = activePane;
        return setWindow(pane, name === "center" ? value : pane.wl.center, name === "width" ? value : pane.wl.width);
      });
    });
    const preset = control("[data-wl-preset]");
    preset.addEventListener("change", () => {
      if (preset.value === "" || !activePane.data) return;
      activePane.resetWindow(parseInt(preset.value, 10));
      activePane.render();
      syncTools();
    });
    control('[data-tool="invert"]').addEventListener("click", () => toggleInvert(activePane));
    control('[data-tool="fit"]').addEventListener("click", () => { activePane.view = { rel: 1, cx: 0.5, cy: 0.5 }; afterView(activePane); });
    control('[data-tool="one"]').addEventListener("click", () => oneToOne(activePane));
    bar.querySelectorAll("button[data-mode]").forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));
    bar.querySelector("[data-reset]").addEventListener("click", () => resetPane(activePane));
    bar.querySelectorAll("[data-heatmap-toggle], [data-heatmap-opacity]").forEach((i) => i.addEventListener("input", applyHeatmap));
    document.querySelectorAll("[data-view]").forEach((button) => button.addEventListener("click", () => {
      const pane = panes.find((p) => p.stage.closest("[data-pane]").dataset.pane === "current");
      document.querySelectorAll("[data-view]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
      pane.switchView(button.dataset);
      activePane = pane;
      syncTools();
      say(`${button.textContent.trim()} shown`);
    }));
    const link = control("[data-link]");
    if (link) link.addEventListener("change", () => afterView(activePane));
    bar.querySelector("[data-help]").addEventListener("click", toggleHelp);
  }

  // Linked panes share one view (zoom relative to fit, the image point at the centre); linking again brings
  // the others to the pane in use.
  function toggleLink() {
    const box = control("[data-link]");
    if (!box) return;
    box.checked = !box.checked;
    afterView(activePane);
    say(box.checked ? "Zoom and pan linked" : "Zoom and pan unlinked");
  }

  function toggleInvert(pane) {
    if (!pane.data) return;
    pane.wl.invert = !pane.wl.invert;
    pane.render();
    syncTools();
  }

  function oneToOne(pane) {
    pane.zoomTo(1 / dpr() / pane.fit());
    afterView(pane);
    say("Zoom 1:1");
  }

  function toggleHelp() {
    const dialog = document.getElementById("viewer-help");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  // --- pointer and keyboard on each stage -------------------------------------------------------------------
  function wireStage(pane) {
    const stage = pane.stage;
    let drag = null;
    const local = (event) => {
      const box = stage.getBoundingClientRect();
      return { x: event.clientX - box.left, y: event.clientY - box.top };
    };
    stage.addEventListener("focus", () => { activePane = pane; syncTools(); });
    stage.addEventListener("contextmenu", (event) => event.preventDefault());
    stage.addEventListener("pointerdown", (event) => {
      activePane = pane;
      stage.focus({ preventScroll: true });
      const at = local(event);
      const kind = event.button === 2 ? "window" : mode;
      drag = { kind, x: at.x, y: at.y, wl: pane.wl ? { ...pane.wl } : null };
      if (kind === "measure") {
        const p = pane.toImage(at.x, at.y);
        pane.measure = { x0: p.x, y0: p.y, x1: p.x, y1: p.y };
      }
      stage.setPointerCapture(event.pointerId);
      stage.classList.add("dragging");
    });
    stage.addEventListener("pointermove", (event) => {
      if (!drag) return;
      const at = local(event);
      if (drag.kind === "pan") {
        pane.panBy(at.x - drag.x, at.y - drag.y);
        drag.x = at.x;
        drag.y = at.y;
        afterView(pane);
      } else if (drag.kind === "window" && drag.wl) {
        const h = pane.data.header;
        const step = Math.max(1, (h.max - h.min) * Math.abs(h.slope)) / 512;
        setWindow(pane, drag.wl.center + (at.y - drag.y) * step, drag.wl.width + (at.x - drag.x) * step);
      } else if (drag.kind === "measure") {
        const p = pane.toImage(at.x, at.y);
        pane.measure.x1 = p.x;
        pane.measure.y1 = p.y;
        pane.drawMeasure();
      }
    });
    const stop = () => {
      if (drag && drag.kind === "measure" && pane.measure) say(`Distance ${pane.stage.dataset.measure}`);
      drag = null;
      stage.classList.remove("dragging");
    };
    stage.addEventListener("pointerup", stop);
    stage.addEventListener("pointercancel", stop);
    stage.addEventListener("wheel", (event) => {
      event.preventDefault();
      activePane = pane;
      const at = local(event);
      pane.zoomTo(pane.view.rel * (event.deltaY < 0 ? 1.15 : 1 / 1.15), at.x, at.y);
      afterView(pane);
    }, { passive: false });
    stage.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      activePane = pane;
      const moves = { ArrowLeft: [40, 0], ArrowRight: [-40, 0], ArrowUp: [0, 40], ArrowDown: [0, -40] };
      const key = event.key;
      if (moves[key] && event.shiftKey && pane.data) { // Shift+arrows: level up/down, window wider/narrower
        const step = Math.max(1, (pane.data.header.max - pane.data.header.min) * Math.abs(pane.data.header.slope)) / 50;
        const [dx, dy] = moves[key];
        setWindow(pane, pane.wl.center + Math.sign(dy) * step, pane.wl.width - Math.sign(dx) * step);
      } else if (moves[key]) { pane.panBy(...moves[key]); afterView(pane); }
      else if (key === "+" || key === "=") { pane.zoomTo(pane.view.rel * 1.25); afterView(pane); }
      else if (key === "-") { pane.zoomTo(pane.view.rel * 0.8); afterView(pane); }
      else if (key === "1") oneToOne(pane);
      else if (key === "f") { pane.view = { rel: 1, cx: 0.5, cy: 0.5 }; afterView(pane); }
      else if (key === "0") resetPane(pane);
      else if (key === "i") toggleInvert(pane);
      else if (key === "l" && control("[data-link]")) toggleLink();
      else if (key === "w") setMode("window");
      else if (key === "m") setMode("measure");
      else if (key === "p") setMode("pan");
      else if (key === "[" || key === "]") cyclePreset(pane, key === "]" ? 1 : -1);
      else if (key === "Escape" && pane.measure) { pane.measure = null; pane.drawMeasure(); delete stage.dataset.measure; }
      else if (key === "?") toggleHelp();
      else return;
      event.preventDefault();
      event.stopPropagation(); // "?" here is the viewer's list, not the reading page's
    });
  }

  window.airspace.setupViewer = function setupViewer() {
    for (let i = panes.length - 1; i >= 0; i -= 1) if (!document.body.contains(panes[i].stage)) panes.splice(i, 1);
    document.querySelectorAll("[data-viewer]").forEach((stage) => {
      if (stage.dataset.ready === "1") return;
      stage.dataset.ready = "1";
      const pane = new Pane(stage);
      panes.push(pane);
      wireStage(pane);
    });
    if (!panes.length) return;
    if (!activePane || !panes.includes(activePane)) activePane = panes[0];
    wireToolbar();
    syncTools();
  };
  window.airspace.viewerPanes = panes;

  // The page-wide "h" shortcut acts on whichever viewer is current (panels may have been swapped in).
  window.airspace.toggleHeatmap = () => {
    const toggle = control("[data-heatmap-toggle]");
    if (!toggle) return;
    toggle.checked = !toggle.checked;
    applyHeatmap();
    say(`Heatmap ${toggle.checked ? "shown" : "hidden"}`);
  };

  window.addEventListener("resize", () => panes.forEach((p) => p.layout()));
  document.addEventListener("keydown", (event) => {
    if (event.key !== "h" || event.ctrlKey || event.metaKey || event.altKey) return;
    const active = document.activeElement;
    if (/^(TEXTAREA|SELECT)$/.test(active.tagName) || (active.tagName === "INPUT" && !/^(range|checkbox|radio)$/.test(active.type))) return;
    window.airspace.toggleHeatmap();
  });
})();
