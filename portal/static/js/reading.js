// Radiologist shortcuts on the study page: a = agree, o = override, n = skip to the next study, ? = help.
// Agree and override only prepare the form and move focus to it; signing stays a deliberate Enter/click.
"use strict";

(function () {
  const typing = () => {
    const active = document.activeElement;
    return active && (/^(TEXTAREA|SELECT)$/.test(active.tagName) ||
      (active.tagName === "INPUT" && !/^(radio|checkbox|range|button|submit)$/.test(active.type)));
  };
  const say = (text) => window.airspace && window.airspace.announce && window.airspace.announce(text);

  function choose(decision) {
    const form = document.getElementById("review-form");
    if (!form) { say("This study cannot be reviewed here."); return; }
    const radio = form.querySelector(`input[name="decision"][value="${decision}"]`);
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    if (decision === "agree") {
      const sign = form.querySelector('button[type="submit"]');
      sign.focus();
      // An indeterminate study's button opens a summary page first (the server insists on it too).
      say(sign.getAttribute("aria-describedby") ? "Agree with AI selected. Press Enter to review what will be signed." : "Agree with AI selected. Press Enter to sign.");
    } else {
      form.querySelector('select[name="final_label"]').focus();
      say("Override selected. Choose the final label and a reason, then sign.");
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing()) return;
    const help = document.getElementById("shortcut-help");
    if (event.key === "a") choose("agree");
    else if (event.key === "o") choose("override");
    else if (event.key === "n") {
      const next = document.getElementById("next-form");
      if (!next) return;
      say("Opening the next study…");
      next.requestSubmit();
    } else if (event.key === "?" && help) {
      help.open = !help.open;
    } else return;
    event.preventDefault();
  });
})();
