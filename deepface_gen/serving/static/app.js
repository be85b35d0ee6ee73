// The deepface-gen page: three forms over the JSON API. No framework, no network
// beyond this server.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
let vocabulary = [];  // [{name, phrases, known}]
let defaults = {};  // the server's defaults: method, backend, init, ...
let temperatureMoved = false;  // until the user moves it, the server picks the temperature

function showTab(name) {
  for (const button of document.querySelectorAll("nav button")) {
    button.classList.toggle("active", button.dataset.tab === name);
  }
  for (const section of document.querySelectorAll(".tab")) {
    section.classList.toggle("active", section.id === name);
  }
}

function clearErrors(form) {
  for (const span of form.querySelectorAll(".error")) span.textContent = "";
}

// An API error goes beside the field it names, else at the form's foot.
function showError(form, payload, fallback) {
  const message = (payload && payload.error) || fallback;
  const field = payload && payload.field;
  const spot = (field && form.querySelector(`.error[data-for="${field}"]`)) ||
    form.querySelector('.error[data-for="general"]');
  spot.textContent = message;
}

async function call(url, options) {
  const response = await fetch(url, options);
  const type = response.headers.get("content-type") || "";
  const payload = type.includes("json") ? await response.json() : await response.blob();
  if (!response.ok) throw { payload, status: response.status };
  return payload;
}

// "drawing… 4 s, step 50 of 200": a wait the page shows as it goes, following the
// request sent with `ticket` (/api/progress); returns the function that stops it.
function ticking(status, verb, ticket) {
  const began = performance.now();
  let steps = "";
  const show = () => {
    const seconds = Math.floor((performance.now() - began) / 1000);
    status.textContent = (seconds ? `${verb}… ${seconds} s` : `${verb}…`) + steps;
  };
  const follow = async () => {
    try {
      const p = await call(`/api/progress/${ticket}`);
      steps = p.state === "queued" ? ", waiting for the model"
        : p.total ? `, step ${p.done} of ${p.total}` : "";
      show();
    } catch (err) { /* not queued yet, or forgotten: the seconds still count */ }
  };
  show();
  const timers = [setInterval(show, 1000), setInterval(follow, 500)];
  return () => timers.forEach(clearInterval);
}

// A name for following one request (/api/progress), unique enough for one page.
const newTicket = () => `p${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;

function pngImage(base64, alt) {
  const img = document.createElement("img");
  img.src = `data:image/png;base64,${base64}`;
  img.alt = alt;
  img.className = "face";
  return img;
}

// -- generate ---------------------------------------------------------------------

function generateBody() {
  const body = {
    attrs: $("#attrs").value,
    n: Number($("#n").value),
    seed: Number($("#seed").value),
    guidance: Number($("#guidance").value),
  };
  if (temperatureMoved) body.temperature = Number($("#temperature").value);
  if ($("#render").value) body.render = $("#render").value;
  for (const id of ["method", "backend", "init"]) {  // only what differs from the default
    if ($(`#${id}`).value !== defaults[id]) body[id] = $(`#${id}`).value;
  }
  if ($("#size").value) body.size = Number($("#size").value);
  return body;
}

// The temperature the server will use for the chosen targets (requests.py,
// default_temperature): the targets that borrow attributes, from the mean face, have their own.
function showDefaultTemperature() {
  if (temperatureMoved || defaults.temperature === undefined) return;
  const own = (defaults.borrowing_methods || []).includes($("#method").value) &&
    $("#backend").value === "cgmm" && $("#init").value === "mean";
  $("#temperature").value = own ? defaults.temperature : defaults.shared_temperature;
  $("#temperature-value").textContent = $("#temperature").value;
}

async function generate(event) {
  event.preventDefault();
  const form = $("#generate-form");
  clearErrors(form);
  const ticket = newTicket();
  const stopTicking = ticking($("#generate-status"), "drawing", ticket);
  $("#generate-button").disabled = true;
  $("#download-button").disabled = true;  // the faces on screen are not this request's
  $("#grid").classList.add("stale");
  try {
    const result = await call("/api/generate", {
      method: "POST",
      headers: { "content-type": "application/json", "x-progress-ticket": ticket },
      body: JSON.stringify(generateBody()),
    });
    stopTicking();
    const grid = $("#grid");
    grid.replaceChildren(...result.images.map((b, i) => pngImage(b, `face ${i + 1}`)));
    $("#generate-status").textContent =
      `${result.images.length} faces in ${result.seconds.toFixed(2)} s (${result.render})`;
    $("#download-button").disabled = false;
  } catch (err) {
    stopTicking();
    $("#generate-status").textContent = "";
    showError(form, err.payload, "the server did not answer");
  } finally {
    $("#generate-button").disabled = false;
    $("#grid").classList.remove("stale");
  }
}

async function downloadGrid() {
  const form = $("#generate-form");
  try {
    const blob = await call("/api/generate?format=png", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(generateBody()),
    });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "faces.png";
    link.click();
    URL.revokeObjectURL(link.href);
  } catch (err) {
    showError(form, err.payload, "the server did not answer");
  }
}

// Suggest vocabulary phrases for the word being typed (after the last comma).
function suggest() {
  const input = $("#attrs");
  const parts = input.value.split(",");
  const word = parts[parts.length - 1].trim().toLowerCase().replace(/^[-+]/, "");
  const box = $("#attrs-suggestions");
  if (!word) { box.replaceChildren(); return; }
  const phrases = [];
  for (const attribute of vocabulary) {
    if (!attribute.known) continue;
    for (const phrase of attribute.phrases) {
      // A phrase already typed out in full needs no chip.
      if (phrase.startsWith(word) && phrase !== word && !phrases.includes(phrase)) phrases.push(phrase);
    }
  }
  box.replaceChildren(...phrases.slice(0, 10).map((phrase) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = phrase;
    button.addEventListener("click", () => {
      parts[parts.length - 1] = (parts.length > 1 ? " " : "") + phrase;
      input.value = parts.join(",");
      box.replaceChildren();
      input.focus();
    });
    return button;
  }));
}

// -- edit ---------------------------------------------------------------------------

let portrait = null;  // the chosen File

function buildToggles() {
  const box = $("#edit-attrs");
  box.replaceChildren(...vocabulary.filter((a) => a.known).map((attribute) => {
    const row = document.createElement("label");
    row.className = "toggle";
    const select = document.createElement("select");
    select.dataset.phrase = attribute.phrases[0];
    select.dataset.name = attribute.name;
    for (const [value, text] of [["", "·"], ["+", "+"], ["-", "−"]]) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = text;
      select.append(option);
    }
    const name = document.createElement("span");
    name.textContent = attribute.phrases[0];
    const p = document.createElement("span");
    p.className = "p";
    p.dataset.name = attribute.name;
    row.append(select, name, p);
    return row;
  }));
}

async function choosePortrait(file) {
  const form = $("#edit-form");
  clearErrors(form);
  portrait = file;
  const preview = $("#edit-preview");
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  const data = new FormData();
  data.append("image", file);
  try {
    const result = await call("/api/score", { method: "POST", body: data });
    const probabilities = result.results[0].probabilities;
    for (const span of document.querySelectorAll(".toggle .p")) {
      const p = probabilities[span.dataset.name];
      span.textContent = p === undefined ? "" : `${Math.round(100 * p)}%`;
    }
  } catch (err) {
    showError(form, err.payload, "the server did not answer");
  }
}

function editDescription() {
  return [...document.querySelectorAll("#edit-attrs select")]
    .filter((s) => s.value)
    .map((s) => `${s.value}${s.dataset.phrase}`)
    .join(",");
}

async function edit(event) {
  event.preventDefault();
  const form = $("#edit-form");
  clearErrors(form);
  if (!portrait) { showError(form, { error: "drop a portrait first", field: "image" }); return; }
  const attrs = editDescription();
  if (!attrs) { showError(form, { error: "choose at least one attribute to add or remove", field: "attrs" }); return; }
  const strength = Number($("#strength").value);
  const sweep = [0, 1, 2, 3].map((i) => +(strength * i / 3).toFixed(2));
  const data = new FormData();
  data.append("image", portrait);
  data.append("attrs", attrs);
  data.append("sweep", sweep.join(","));
  data.append("focus", $("#focus").value);
  if ($("#edit-render").value) data.append("render", $("#edit-render").value);
  const ticket = newTicket();
  const stopTicking = ticking($("#edit-status"), "editing", ticket);
  $("#edit-button").disabled = true;
  for (const id of ["#strip", "#edit-photo"]) $(id).classList.add("stale");
  try {
    const result = await call("/api/edit", {
      method: "POST", body: data, headers: { "x-progress-ticket": ticket },
    });
    stopTicking();
    const figures = [["input", result.input], ...result.strengths.map((s, i) =>
      [`strength ${s}`, result.images[i]])].map(([caption, b64]) => {
      const figure = document.createElement("figure");
      const text = document.createElement("figcaption");
      text.textContent = caption;
      figure.append(pngImage(b64, caption), text);
      return figure;
    });
    $("#strip").replaceChildren(...figures);
    const photo = $("#edit-photo");
    photo.hidden = !result.photo;
    if (result.photo) {
      $("#edit-photo-image").src = `data:image/png;base64,${result.photo}`;
      const strongest = result.strengths[result.strengths.length - 1];
      $("#edit-photo-caption").textContent = result.face
        ? `strength ${strongest}, put back into your photo (face found, score ${result.face.score.toFixed(2)})`
        : `strength ${strongest}, put back into your photo`;
    }
    const notes = [result.note, result.warning].filter(Boolean);
    const warning = $("#edit-warning");
    warning.textContent = notes.join(" ");
    warning.hidden = notes.length === 0;
    const how = result.render ? ` (${result.render})` : "";
    $("#edit-status").textContent = `${attrs} in ${result.seconds.toFixed(2)} s${how}`;
  } catch (err) {
    stopTicking();
    $("#edit-status").textContent = "";
    showError(form, err.payload, "the server did not answer");
  } finally {
    $("#edit-button").disabled = false;
    for (const id of ["#strip", "#edit-photo"]) $(id).classList.remove("stale");
  }
}

// -- score --------------------------------------------------------------------------

async function score(event) {
  event.preventDefault();
  const form = $("#score-form");
  clearErrors(form);
  const files = $("#score-files").files;
  if (!files.length) { showError(form, { error: "choose one or more images", field: "image" }); return; }
  const data = new FormData();
  for (const file of files) data.append("image", file);
  $("#score-status").textContent = "scoring…";
  try {
    const result = await call("/api/score", { method: "POST", body: data });
    const table = document.createElement("table");
    table.innerHTML = "<tr><th>image</th><th>name</th><th>most likely</th></tr>";
    result.results.forEach((row, i) => {
      const tr = document.createElement("tr");
      const top = Object.entries(row.probabilities).sort((a, b) => b[1] - a[1]).slice(0, 6)
        .map(([name, p]) => `${name.replaceAll("_", " ")} ${Math.round(100 * p)}%`).join(", ");
      const thumb = document.createElement("td");
      const img = document.createElement("img");
      img.src = URL.createObjectURL(files[i]);
      thumb.append(img);
      const name = document.createElement("td");
      name.textContent = row.name;
      const cell = document.createElement("td");
      cell.textContent = top;
      if (row.warning) {  // outside what the model was trained on: say so beside the scores
        const warning = document.createElement("p");
        warning.className = "warning";
        warning.textContent = row.warning;
        cell.append(warning);
      }
      tr.append(thumb, name, cell);
      table.append(tr);
    });
    $("#score-results").replaceChildren(table);
    $("#score-status").textContent = `${result.results.length} images in ${result.seconds.toFixed(2)} s`;
  } catch (err) {
    $("#score-status").textContent = "";
    showError(form, err.payload, "the server did not answer");
  }
}

// -- start ----------------------------------------------------------------------------

// Keep in each select only what this model can do (no VAE choices without a VAE).
function offerOnly(options) {
  for (const select of document.querySelectorAll("select[data-choices]")) {
    const allowed = options[select.dataset.choices] || [];
    for (const option of [...select.options]) {
      if (option.value && !allowed.includes(option.value)) option.remove();
    }
  }
}

async function start() {
  for (const button of document.querySelectorAll("nav button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  for (const id of ["n", "guidance", "temperature", "strength", "focus"]) {
    const input = $(`#${id}`);
    input.addEventListener("input", () => { $(`#${id}-value`).textContent = input.value; });
  }
  $("#temperature").addEventListener("input", () => { temperatureMoved = true; });
  for (const id of ["method", "backend", "init"]) {
    $(`#${id}`).addEventListener("change", showDefaultTemperature);
  }
  $("#generate-form").addEventListener("submit", generate);
  $("#download-button").addEventListener("click", downloadGrid);
  $("#attrs").addEventListener("input", suggest);
  $("#edit-form").addEventListener("submit", edit);
  $("#score-form").addEventListener("submit", score);
  $("#edit-file").addEventListener("change", (e) => e.target.files[0] && choosePortrait(e.target.files[0]));
  const drop = $("#drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) choosePortrait(e.dataTransfer.files[0]);
  });
  try {
    const [health, attributes] = await Promise.all([call("/api/health"), call("/api/attributes")]);
    vocabulary = attributes.attributes;
    $("#model-line").textContent =
      `model ${health.model}, ${health.size} px, on ${health.device}; ` +
      `${vocabulary.filter((a) => a.known).length} attributes known`;
    $("#n").max = attributes.limits.max_faces;
    $("#size").max = attributes.limits.max_size;
    defaults = attributes.defaults;
    // The strength slider spans about 2.4 times the model's default (1 where it calibrates
    // strength per attribute, a raw multiple where not), in steps that land on it.
    if (defaults.edit_strength) {
      const step = defaults.edit_strength >= 2 ? 0.25 : 0.05;
      $("#strength").min = step;
      $("#strength").step = step;
      $("#strength").max = Math.round(2.4 * defaults.edit_strength / step) * step;
    }
    // The sliders start at the server's defaults (the page's own values are fallbacks).
    for (const [id, key] of [["guidance", "guidance"], ["strength", "edit_strength"],
                             ["focus", "edit_focus"]]) {
      if (defaults[key] !== undefined) {
        $(`#${id}`).value = defaults[key];
        $(`#${id}-value`).textContent = $(`#${id}`).value;
      }
    }
    offerOnly(attributes.options);
    for (const id of ["method", "backend", "init"]) {  // the model's own defaults
      if (defaults[id] !== undefined) $(`#${id}`).value = defaults[id];
    }
    showDefaultTemperature();
    buildToggles();
  } catch (err) {
    $("#model-line").textContent = "the server did not answer";
  }
}

start();
