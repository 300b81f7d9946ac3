// X-ray viewer: zoom (slider, buttons, wheel, + / -), pan (drag or arrow keys), window/level as
// brightness/contrast, heatmap overlay toggle (off by default) with its legend, and opacity.
// Re-run after the panels are swapped in.
"use strict";

window.airspace = window.airspace || {};

window.airspace.setupViewer = function setupViewer() {
  const stage = document.querySelector("[data-viewer]");
  if (!stage || stage.dataset.ready === "1") return;
  stage.dataset.ready = "1";
  const layer = stage.querySelector("[data-pan]");
  const xray = document.getElementById("xray");
  const heat = document.getElementById("heatmap");
  const tools = document.querySelector("[data-viewer-tools]");
  const control = (name) => tools && tools.querySelector(`[data-${name}]`);
  const view = { zoom: 1, x: 0, y: 0 };

  // Keep the picture inside the stage: pan is limited to the zoomed overflow.
  function clamp() {
    const limitX = ((view.zoom - 1) * stage.clientWidth) / 2;
    const limitY = ((view.zoom - 1) * stage.clientHeight) / 2;
    view.x = Math.max(-limitX, Math.min(limitX, view.x));
    view.y = Math.max(-limitY, Math.min(limitY, view.y));
  }

  function apply() {
    const zoomInput = control("zoom");
    view.zoom = zoomInput ? parseFloat(zoomInput.value) : 1;
    clamp();
    layer.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.zoom})`;
    const b = control("brightness") ? control("brightness").value : 100;
    const c = control("contrast") ? control("contrast").value : 100;
    xray.style.filter = `brightness(${b}%) contrast(${c}%)`;
    stage.classList.toggle("zoomed", view.zoom > 1);
    document.querySelectorAll("[data-output]").forEach((out) => {
      const source = control(out.dataset.output);
      if (source) out.textContent = out.dataset.output === "zoom" ? `${parseFloat(source.value).toFixed(1)}×` : `${source.value}%`;
    });
    if (heat) {
      // Off by default: the overlay is not even fetched until the reader turns it on.
      const toggle = control("heatmap-toggle");
      const opacity = control("heatmap-opacity");
      const legend = document.getElementById("heatmap-legend");
      const on = Boolean(toggle && toggle.checked);
      if (on && !heat.getAttribute("src")) heat.src = heat.dataset.src;
      heat.hidden = !on;
      if (legend) legend.hidden = !on;
      heat.style.opacity = opacity ? opacity.value / 100 : 0.5;
      if (opacity) opacity.disabled = !on;
    }
  }

  function zoomBy(step) {
    const input = control("zoom");
    if (!input) return;
    input.value = Math.max(parseFloat(input.min), Math.min(parseFloat(input.max), parseFloat(input.value) + step));
    apply();
  }

  function reset() {
    ["zoom", "brightness", "contrast"].forEach((name) => {
      const input = control(name);
      if (input) input.value = input.defaultValue;
    });
    view.x = 0;
    view.y = 0;
    apply();
    if (window.airspace.announce) window.airspace.announce("Viewer reset");
  }

  if (tools) {
    tools.querySelectorAll("input").forEach((input) => input.addEventListener("input", apply));
    tools.querySelectorAll("[data-zoom-step]").forEach((button) => {
      button.addEventListener("click", () => zoomBy(parseFloat(button.dataset.zoomStep)));
    });
    const resetButton = tools.querySelector("[data-reset]");
    if (resetButton) resetButton.addEventListener("click", reset);
  }

  // Pan by dragging (mouse, pen or touch) once zoomed in.
  let drag = null;
  stage.addEventListener("pointerdown", (event) => {
    if (view.zoom <= 1) return;
    drag = { x: event.clientX - view.x, y: event.clientY - view.y };
    stage.setPointerCapture(event.pointerId);
    stage.classList.add("dragging");
  });
  stage.addEventListener("pointermove", (event) => {
    if (!drag) return;
    view.x = event.clientX - drag.x;
    view.y = event.clientY - drag.y;
    apply();
  });
  const stop = () => { drag = null; stage.classList.remove("dragging"); };
  stage.addEventListener("pointerup", stop);
  stage.addEventListener("pointercancel", stop);
  stage.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoomBy(event.deltaY < 0 ? 0.2 : -0.2);
  }, { passive: false });

  // Keyboard: the stage is focusable; arrows pan, + / - zoom, 0 resets, h toggles the heatmap.
  stage.addEventListener("keydown", (event) => {
    const moves = { ArrowLeft: [40, 0], ArrowRight: [-40, 0], ArrowUp: [0, 40], ArrowDown: [0, -40] };
    if (moves[event.key]) {
      view.x += moves[event.key][0];
      view.y += moves[event.key][1];
      apply();
    } else if (event.key === "+" || event.key === "=") zoomBy(0.2);
    else if (event.key === "-") zoomBy(-0.2);
    else if (event.key === "0") reset();
    else return;
    event.preventDefault();
  });
  // The page-wide "h" shortcut acts on whichever viewer is current (panels may have been swapped in).
  window.airspace.toggleHeatmap = () => {
    const toggle = control("heatmap-toggle");
    if (!toggle) return;
    toggle.checked = !toggle.checked;
    apply();
    if (window.airspace.announce) window.airspace.announce(`Heatmap ${toggle.checked ? "shown" : "hidden"}`);
  };
  apply();
};

document.addEventListener("keydown", (event) => {
  if (event.key !== "h" || event.ctrlKey || event.metaKey || event.altKey) return;
  const active = document.activeElement;
  if (/^(TEXTAREA|SELECT)$/.test(active.tagName) || (active.tagName === "INPUT" && !/^(range|checkbox|radio)$/.test(active.type))) return;
  if (window.airspace.toggleHeatmap) window.airspace.toggleHeatmap();
});
