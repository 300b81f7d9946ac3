// Upload page: drag and drop, several files (one study per file) through the API with per-file progress,
// validation messages and duplicate warnings. Without JavaScript the plain form still posts one file.
"use strict";

(function () {
  const form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) return;
  const input = form.querySelector('input[type="file"][name="image"]');
  const zone = document.getElementById("dropzone");
  const queue = document.getElementById("upload-queue");
  const summary = document.getElementById("error-summary");
  const submit = document.getElementById("upload-submit");
  const csrf = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
  const MRN = new RegExp(form.elements.patient_mrn.dataset.pattern);  // the server's one MRN pattern
  const ZERO = "00000000-0000-0000-0000-000000000000";
  let files = [];
  // Set by "File under the patient on file" after a 409 patient_conflict; cleared when the details change.
  let confirmPatient = false;
  const conflict = document.getElementById("patient-conflict");
  const FORM_FIELD = { name: "patient_name", birth_date: "patient_birth_date", mrn: "patient_mrn" };
  const WARNINGS = {
    dicom_patient_mismatch: "The DICOM header names a different patient than the one entered: check before anyone reads it.",
    patient_details_differ_confirmed: "Filed under the patient on file although the entered details differ (you confirmed).",
  };

  document.body.classList.add("js");
  input.multiple = true;

  const announce = (text) => window.airspace && window.airspace.announce(text);
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const studyUrl = (id) => form.dataset.studyUrl.replace(ZERO, id);
  const sizeText = (bytes) => (bytes > 1048576 ? `${(bytes / 1048576).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} kB`);

  // 1. Field validation: the same rules as the server, shown beside each field and in a summary.
  function setFieldError(name, message) {
    const field = form.querySelector(`[data-field="${name}"]`);
    const control = form.elements[name];
    const error = document.getElementById(`id_${name}-error`);
    if (!field || !error) return false;
    field.classList.toggle("has-error", Boolean(message));
    error.textContent = message || "";
    error.hidden = !message;
    if (control && control.setAttribute) {
      if (message) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
    return true;
  }

  function showSummary(errors) {
    const list = summary.querySelector("ul");
    list.textContent = "";
    errors.forEach(([name, message]) => {
      const item = el("li");
      const link = el("a", "", message);
      link.href = `#id_${name}`;
      item.appendChild(link);
      list.appendChild(item);
    });
    summary.hidden = errors.length === 0;
    if (errors.length) summary.focus();
  }

  function validate() {
    const errors = [];
    const today = new Date().toISOString().slice(0, 10);
    const mrn = form.elements.patient_mrn.value.trim();
    if (!mrn) errors.push(["patient_mrn", "Enter the patient's MRN."]);
    else if (!MRN.test(mrn)) errors.push(["patient_mrn", "Use letters, digits, - _ . only (max 64)."]);
    [["patient_birth_date", "birth date"], ["study_date", "study date"]].forEach(([name, what]) => {
      const value = form.elements[name].value;
      if (value && value > today) errors.push([name, `The ${what} cannot be in the future.`]);
    });
    if (!files.length) errors.push(["image", "Choose at least one X-ray file."]);
    ["patient_mrn", "patient_birth_date", "study_date", "image"].forEach((name) => {
      const hit = errors.find(([n]) => n === name);
      setFieldError(name, hit ? hit[1] : "");
    });
    showSummary(errors);
    return errors.length === 0;
  }

  // 2. The file queue: one row per file, with a progress bar and its outcome.
  function addFiles(list) {
    Array.from(list).forEach((file) => {
      if (files.some((f) => !f.done && f.file.name === file.name && f.file.size === file.size)) return;
      const row = el("li", "queue-item");
      const name = el("span", "queue-name", `${file.name} (${sizeText(file.size)})`);
      const bar = el("progress");
      bar.max = 100;
      bar.value = 0;
      bar.setAttribute("aria-label", `Upload progress for ${file.name}`);
      const state = el("span", "queue-state", "Ready");
      const remove = el("button", "link-button", "Remove");
      remove.type = "button";
      remove.setAttribute("aria-label", `Remove ${file.name}`);
      const entry = { file, row, bar, state, done: false, key: `${Date.now()}-${Math.random().toString(36).slice(2)}` };
      remove.addEventListener("click", () => {
        files = files.filter((f) => f !== entry);
        row.remove();
        announce(`${file.name} removed`);
      });
      row.append(name, bar, state, remove);
      queue.appendChild(row);
      files.push(entry);
    });
    input.value = "";
    announce(`${files.length} file${files.length === 1 ? "" : "s"} ready to upload`);
  }

  input.addEventListener("change", () => addFiles(input.files));
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("dragging")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) addFiles(event.dataTransfer.files);
  });

  // 3. Per-file upload through the API (XMLHttpRequest gives upload progress events).
  function payload(file, views) {
    const data = new FormData();
    Array.from(form.elements).forEach((control) => {
      if (!control.name || control.type === "file" || control.name === "csrfmiddlewaretoken") return;
      if (control.name === "upload_mode" || ((control.type === "radio" || control.type === "checkbox") && !control.checked)) return;
      if (control.value !== "") data.append(control.name, control.value.trim());
    });
    data.append("image", file, file.name);
    (views || []).forEach((view) => data.append("images", view, view.name));
    if (confirmPatient) data.append("confirm_patient", "true");
    return data;
  }

  function send(entry, views) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.dataset.api);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("Idempotency-Key", entry.key);
      xhr.upload.addEventListener("progress", (event) => {
        if (!event.lengthComputable) return;
        const done = Math.round((event.loaded / event.total) * 95);
        [entry, ...(views || [])].forEach((e) => { e.bar.value = done; });
      });
      xhr.addEventListener("load", () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        resolve({ status: xhr.status, body });
      });
      xhr.addEventListener("error", () => resolve({ status: 0, body: null }));
      entry.state.textContent = "Uploading…";
      xhr.send(payload(entry.file, (views || []).map((e) => e.file)));
    });
  }

  function showOutcome(entry, result) {
    const { status, body } = result;
    entry.row.querySelectorAll(".link-button").forEach((b) => b.remove());
    if ((status === 201 || status === 200) && body && body.id) {
      entry.done = true;
      entry.study = body;
      entry.bar.value = 100;
      entry.row.classList.add("ok");
      entry.state.textContent = "";
      const link = el("a", "", "Open study");
      link.href = studyUrl(body.id);
      const live = el("span", "queue-status");
      live.dataset.poll = form.dataset.statusUrl.replace(ZERO, body.id);
      live.setAttribute("aria-live", "polite");
      live.textContent = body.status.charAt(0).toUpperCase() + body.status.slice(1);
      entry.state.append(live, " ", link);
      (body.warnings || []).forEach((code) => entry.row.appendChild(el("p", "warn dup", WARNINGS[code] || code)));
      if (body.duplicate_of) {
        const warn = el("p", "warn dup", "Duplicate: this exact image was uploaded before. ");
        const earlier = el("a", "", "See the earlier study");
        earlier.href = studyUrl(body.duplicate_of);
        warn.appendChild(earlier);
        entry.row.appendChild(warn);
      }
      return;
    }
    entry.bar.value = 0;
    if (status === 409 && body && body.error && body.error.code === "patient_conflict") {
      // Not refused: held until the uploader corrects the patient or confirms it (then sent again).
      entry.state.textContent = "";
      entry.state.appendChild(el("span", "warn", "Held: check the patient details."));
      showConflict(body.error);
      return "conflict";
    }
    entry.row.classList.add("failed");
    // A refused file is final; only a network or server fault is worth sending again.
    entry.done = status >= 400 && status < 500;
    const error = body && body.error ? body.error : { message: status ? `Upload refused (${status}).` : "Network error: the upload did not reach the server.", fields: {} };
    entry.state.textContent = "";
    entry.state.appendChild(el("span", "error", error.message));
    Object.entries(error.fields || {}).forEach(([name, messages]) => {
      if (name !== "image") setFieldError(FORM_FIELD[name] || name, messages.join(" "));
    });
    return "failed";
  }

  // 3b. Entered details contradict the patient on file for this MRN: never filed silently. Say which
  // details differ (never the values on file) and let the uploader correct them or confirm.
  function showConflict(error) {
    const fields = Object.keys(error.fields || {}).filter((name) => FORM_FIELD[name]);
    fields.forEach((name) => setFieldError(FORM_FIELD[name], "Differs from the patient on file for this MRN."));
    const words = fields.map((name) => (name === "birth_date" ? "birth date" : name)).join(" and ") || "details";
    const mrn = form.elements.patient_mrn.value.trim();
    document.getElementById("patient-conflict-text").textContent =
      `A patient with MRN ${mrn} is already on file with a different ${words}. Check that this is the right patient. ` +
      "Correct the MRN or the details, or file these images under the patient on file (that record is not changed).";
    conflict.hidden = false;
    conflict.focus();
    announce(`Patient check needed: MRN ${mrn} is on file with a different ${words}.`);
  }

  function hideConflict() {
    confirmPatient = false;
    conflict.hidden = true;
  }

  conflict.querySelector('[data-conflict="correct"]').addEventListener("click", () => {
    hideConflict();
    form.elements.patient_mrn.focus();
  });
  conflict.querySelector('[data-conflict="confirm"]').addEventListener("click", () => {
    confirmPatient = true;
    conflict.hidden = true;
    form.requestSubmit();
  });
  ["patient_mrn", "patient_name", "patient_birth_date"].forEach((name) => {
    form.elements[name].addEventListener("input", () => { if (!conflict.hidden || confirmPatient) hideConflict(); });
  });

  function showView(view, first, result) {
    view.row.querySelectorAll(".link-button").forEach((b) => b.remove());
    view.done = true;
    view.state.textContent = "";
    if (first.study) {
      view.bar.value = 100;
      view.row.classList.add("ok");
      view.state.textContent = "Stored as a further view of the same study";
    } else {
      view.bar.value = 0;
      view.row.classList.add("failed");
      view.state.appendChild(el("span", "error", "Not stored: the study upload was refused."));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    files = files.filter((f) => !f.done);
    if (!validate()) return;
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    const results = [];
    const together = form.querySelector('input[name="upload_mode"]:checked').value === "together";
    let held = false;
    if (together && files.length > 1) {
      // One study: the first file is analysed, the others are stored as further views of it.
      const [first, ...views] = files;
      const result = await send(first, views);
      held = showOutcome(first, result) === "conflict";
      if (!held) views.forEach((view) => showView(view, first, result));
      results.push(first);
    } else {
      for (const entry of files) {
        const result = await send(entry);
        results.push(entry);
        // The rest of the batch is for the same patient: hold it too until the patient is settled.
        if (showOutcome(entry, result) === "conflict") { held = true; break; }
      }
    }
    form.removeAttribute("aria-busy");
    submit.disabled = false;
    if (held) return;
    confirmPatient = false;
    const ok = results.filter((e) => e.study);
    const warned = ok.filter((e) => e.study.duplicate_of);
    announce(`${ok.length} of ${results.length} uploaded${warned.length ? `, ${warned.length} duplicate warning` : ""}.`);
    if (window.airspace) window.airspace.pollStatuses();
    // A single clean upload goes straight to its study page, where the result appears by itself.
    if (results.length === 1 && ok.length === 1 && !warned.length) window.location.assign(studyUrl(ok[0].study.id));
    else if (ok.length) clearPatient(ok[0].study.patient ? ok[0].study.patient.mrn : "");
  });

  // 5. After a batch the form forgets the patient: the next files must never go to the previous one by default.
  function clearPatient(mrn) {
    ["patient_mrn", "patient_name", "patient_birth_date", "patient_sex", "accession_number", "study_date", "clinical_notes"]
      .forEach((name) => { if (form.elements[name]) form.elements[name].value = ""; });
    const priority = form.elements.priority;
    if (priority) {
      const preset = Array.from(priority.options).find((o) => o.defaultSelected);
      priority.value = preset ? preset.value : priority.options[0].value;
    }
    const done = `Uploaded${mrn ? ` under MRN ${mrn}` : ""}. Patient and study details cleared: enter the next patient.`;
    document.getElementById("patient-lookup").textContent = done;
    announce(done);
  }

  // 4. Existing patient: say so (an existing record is never overwritten by the fields below it).
  const lookup = document.getElementById("patient-lookup");
  form.elements.patient_mrn.addEventListener("change", () => {
    const mrn = form.elements.patient_mrn.value.trim();
    lookup.textContent = "";
    if (!MRN.test(mrn)) return;
    fetch(`${form.dataset.patientsApi}?mrn=${encodeURIComponent(mrn)}`, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => {
        const patient = body && body.results && body.results[0];
        lookup.textContent = patient
          ? `Existing patient: ${patient.name || "(no name)"}${patient.birth_date ? `, born ${patient.birth_date}` : ""}. Their record is kept as is.`
          : "New patient: a record will be created.";
      })
      .catch(() => {});
  });
})();
