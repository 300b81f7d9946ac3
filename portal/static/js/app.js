// Airspace page behaviour. No inline script anywhere (the CSP forbids it); styles are set from JS only.
"use strict";

window.airspace = window.airspace || {};

// Status changes are announced to screen readers through one polite live region.
function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  window.setTimeout(() => { region.textContent = text; }, 50);
}

// Live status: poll status fragments until final; a study page then swaps in its result panels.
let polling = false;
function pollStatuses() {
  if (polling) return;
  polling = true;
  const tick = () => {
    const nodes = Array.from(document.querySelectorAll("[data-poll]")).filter((node) => {
      const current = node.querySelector("[data-final]");
      return !(current && current.dataset.final === "1");
    });
    if (!nodes.length) { polling = false; return; }
    Promise.all(nodes.map(refreshStatus)).finally(() => window.setTimeout(tick, 1000));
  };
  window.setTimeout(tick, 600);
}

function refreshStatus(node) {
  return fetch(node.dataset.poll, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
    .then((r) => (r.ok ? r.text() : null))
    .then((html) => {
      if (!html) return;
      const before = node.querySelector("[data-status]");
      node.innerHTML = html;
      const now = node.querySelector("[data-status]");
      if (!now || (before && before.dataset.status === now.dataset.status)) return;
      const who = node.dataset.label ? `${node.dataset.label}: ` : "";
      announce(`${who}${now.textContent.trim()}`);
      // Every change swaps the study page's controls and panels: a Cancel button must not outlive "queued".
      if (node.dataset.panels) return swapPanels(node.dataset.panels, now.dataset.final === "1");
      const row = node.closest("tr[data-study]");
      if (now.dataset.final === "1" && row) return refreshRow(row);
      return null;
    })
    .catch(() => {});
}

// Replace the controls, viewer and result panels in place (no page reload), then wire them up again.
function swapPanels(url, final) {
  return fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
    .then((r) => (r.ok ? r.text() : null))
    .then((html) => {
      if (!html) return;
      const doc = new DOMParser().parseFromString(html, "text/html");
      doc.querySelectorAll("[data-swap]").forEach((fresh) => {
        const old = document.getElementById(fresh.id);
        if (old) old.replaceWith(document.importNode(fresh, true));
      });
      const summary = doc.querySelector("[data-announce]");
      if (final && summary) announce(summary.dataset.announce);
      setupPage();
    });
}

// A list row whose study finished: take the fresh row (AI result, read) from the same list page.
function refreshRow(row) {
  return fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
    .then((r) => (r.ok ? r.text() : null))
    .then((html) => {
      if (!html) return;
      const doc = new DOMParser().parseFromString(html, "text/html");
      const fresh = doc.querySelector(`tr[data-study="${row.dataset.study}"]`);
      if (fresh) row.replaceWith(document.importNode(fresh, true));
    });
}

// The bell: its unread count is polled every 30 s while the tab is visible, and at once when it becomes
// visible again; a hidden tab asks nothing. A refusal (signed out, role removed) stops the polling.
const BELL_POLL_MS = 30000;
function pollBell() {
  const bell = document.getElementById("bell");
  if (!bell || !bell.dataset.countUrl) return;
  const count = bell.querySelector("[data-unread]");
  let timer = null;
  let stopped = false;
  const show = (unread) => {
    const before = parseInt(count.dataset.unread, 10) || 0;
    count.dataset.unread = String(unread);
    count.textContent = String(unread);
    bell.classList.toggle("bell-unread", unread > 0);
    if (unread > before) announce(`${unread} unread notification${unread === 1 ? "" : "s"}`);
  };
  const refresh = () => fetch(bell.dataset.countUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch", Accept: "application/json" } })
    .then((r) => {
      const json = (r.headers.get("content-type") || "").includes("application/json");
      if (!r.ok || r.redirected || !json) { stopped = true; return null; }
      return r.json();
    })
    .then((data) => { if (data && Number.isInteger(data.unread)) show(data.unread); })
    .catch(() => {}); // offline for a moment: the next tick tries again
  const schedule = () => {
    window.clearTimeout(timer);
    if (stopped || document.visibilityState !== "visible") return;
    timer = window.setTimeout(() => refresh().finally(schedule), BELL_POLL_MS);
  };
  document.addEventListener("visibilitychange", () => {
    window.clearTimeout(timer);
    if (document.visibilityState === "visible" && !stopped) refresh().finally(schedule);
  });
  schedule();
}

// Probability bars: widths come from data attributes (style attributes are blocked by the CSP).
function drawBars() {
  document.querySelectorAll("[data-probability]").forEach((bar) => {
    const fill = bar.querySelector(".pbar-fill");
    const mark = bar.querySelector(".pbar-threshold");
    if (fill) fill.style.width = `${(parseFloat(bar.dataset.probability) * 100).toFixed(1)}%`;
    if (mark) mark.style.left = `${(parseFloat(bar.dataset.threshold) * 100).toFixed(1)}%`;
  });
}

// Review form: final label and reason matter only for an override, and each final label offers only its
// own reasons (a non-diagnostic read: not a chest X-ray, poor quality, other).
function setupReviewForm() {
  const form = document.getElementById("review-form");
  if (!form) return;
  const label = form.querySelector('select[name="final_label"]');
  const reason = form.querySelector('select[name="reason"]');
  const syncReasons = () => {
    if (!label || !reason) return;
    reason.querySelectorAll("option[data-labels]").forEach((option) => {
      const fits = !label.value || option.dataset.labels.split(" ").includes(label.value);
      option.hidden = !fits;
      option.disabled = !fits;
    });
    const picked = reason.options[reason.selectedIndex];
    if (picked && picked.disabled) reason.value = "";
  };
  const sync = () => {
    const decision = form.querySelector('input[name="decision"]:checked');
    const override = decision && decision.value === "override";
    form.querySelectorAll("[data-override-only]").forEach((node) => {
      node.hidden = !override;
      node.querySelectorAll("select").forEach((s) => { s.required = override; });
    });
  };
  form.querySelectorAll('input[name="decision"]').forEach((r) => r.addEventListener("change", sync));
  if (label) label.addEventListener("change", syncReasons);
  sync();
  syncReasons();
}

function setupPage() {
  drawBars();
  if (window.airspace.setupViewer) window.airspace.setupViewer();
  setupReviewForm();
}

Object.assign(window.airspace, { announce, pollStatuses, setupPage });

document.addEventListener("DOMContentLoaded", () => {
  document.body.classList.add("js");
  setupPage();
  pollStatuses();
  pollBell();
});
