// Airspace page behaviour. No inline script anywhere (the CSP forbids it).
"use strict";

// Live status: poll status fragments; reload the page once a study reaches a final state.
function pollStatuses() {
  const nodes = document.querySelectorAll("[data-poll]");
  if (!nodes.length) return;
  let pending = false;
  nodes.forEach((node) => {
    const current = node.querySelector("[data-final]");
    if (current && current.dataset.final === "1") return;
    pending = true;
    fetch(node.dataset.poll, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then((r) => (r.ok ? r.text() : null))
      .then((html) => {
        if (!html) return;
        node.innerHTML = html;
        const now = node.querySelector("[data-final]");
        if (now && now.dataset.final === "1" && node.dataset.reloadOnFinal === "1") window.location.reload();
      })
      .catch(() => {});
  });
  if (pending) window.setTimeout(pollStatuses, 1000);
}

// Viewer: zoom, brightness/contrast (window/level), heatmap toggle and opacity.
function setupViewer() {
  const stage = document.querySelector("[data-viewer]");
  if (!stage) return;
  const xray = document.getElementById("xray");
  const heat = document.getElementById("heatmap");
  const q = (sel) => document.querySelector(sel);
  const apply = () => {
    const zoom = q("[data-zoom]") ? q("[data-zoom]").value : 1;
    const b = q("[data-brightness]") ? q("[data-brightness]").value : 100;
    const c = q("[data-contrast]") ? q("[data-contrast]").value : 100;
    [xray, heat].forEach((img) => { if (img) img.style.transform = `scale(${zoom})`; });
    xray.style.filter = `brightness(${b}%) contrast(${c}%)`;
    if (heat) {
      heat.style.display = q("[data-heatmap-toggle]").checked ? "block" : "none";
      heat.style.opacity = q("[data-heatmap-opacity]").value / 100;
    }
  };
  document.querySelectorAll(".viewer-tools input").forEach((el) => el.addEventListener("input", apply));
  apply();
}

document.addEventListener("DOMContentLoaded", () => {
  setupViewer();
  window.setTimeout(pollStatuses, 800);
});
