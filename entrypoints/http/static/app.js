// The page: pick, drop or paste images; each is uploaded, then held by one long-poll until done.
// No framework and no build step. The API key lives in this script's memory only: never in a URL,
// never in storage.
"use strict";

const SUBMIT = "/api/inference/requests";
const RETRIES = 5; // answers 429 and 503, each after the server's Retry-After
const config = { max_upload_bytes: Infinity, default_top_k: 5, max_wait_seconds: 30, api_key_required: false };
let apiKey = "";

const $ = (id) => document.getElementById(id);
const say = (text) => { $("status").textContent = text; };

function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function authHeaders() {
  return apiKey ? { Authorization: `Bearer ${apiKey}` } : {};
}

async function loadConfig() {
  try {
    const response = await fetch("/api/config");
    if (response.ok) Object.assign(config, await response.json());
  } catch (error) {
    say(`Cannot reach the service: ${error.message}`);
  }
  $("limit").textContent = sizeText(config.max_upload_bytes);
  $("top-k").value = config.default_top_k;
  $("key-field").hidden = !config.api_key_required;
  await showModel();
}

async function showModel() {
  if (config.api_key_required && !apiKey) {
    $("model").textContent = "Model: enter the API key to see it";
    return;
  }
  const response = await fetch("/api/models", { headers: authHeaders() });
  if (response.ok) {
    const model = await response.json();
    $("model").textContent = `Model: ${model.name} ${model.version} (${model.labels.length} labels)`;
  }
}

// What a person should read for each refusal; the server's own detail follows.
function explain(status, body) {
  const detail = body && body.detail ? body.detail : "";
  switch (status) {
    case 401: return "This service needs an API key: enter it above.";
    case 403: return "The API key was refused: check it.";
    case 413: return `Too large: the service takes images up to ${sizeText(config.max_upload_bytes)}.`;
    case 415: return `Not an image the service can read (JPEG, PNG, GIF, WebP, BMP, TIFF): ${detail}`;
    case 422: return `The image cannot be used: ${detail}`;
    case 429: return "The service is busy";
    case 503: return "The service is unavailable for the moment";
    default: return `Error ${status}: ${detail || "unexpected answer"}`;
  }
}

function countdown(card, text, seconds) {
  return new Promise((resolve) => {
    let left = Math.max(1, Math.ceil(seconds));
    const tick = () => {
      if (left <= 0) { resolve(); return; }
      setState(card, `${text}: retrying in ${left} s…`, true);
      left -= 1;
      setTimeout(tick, 1000);
    };
    tick();
  });
}

function setState(card, text, isError = false) {
  const state = card.querySelector(".state");
  state.textContent = text;
  state.classList.toggle("error", isError);
}

// A fetch that honours Retry-After on 429 and 503, with a visible countdown.
async function call(card, url, options) {
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch(url, options);
    if ((response.status === 429 || response.status === 503) && attempt < RETRIES) {
      const body = await response.json().catch(() => null);
      const hint = Number(response.headers.get("Retry-After")) || 1;
      await countdown(card, explain(response.status, body), hint * 2 ** attempt);
      continue;
    }
    return response;
  }
}

function addCard(file) {
  const card = $("card").content.firstElementChild.cloneNode(true);
  const preview = card.querySelector(".preview");
  preview.src = URL.createObjectURL(file);
  preview.alt = `Preview of ${file.name || "the pasted image"}`;
  card.querySelector(".name").textContent = file.name || "pasted image";
  const format = file.type ? file.type.replace("image/", "").toUpperCase() : "unknown format";
  const meta = card.querySelector(".meta");
  meta.textContent = `${sizeText(file.size)} · ${format}`;
  preview.addEventListener("load", () => {
    meta.textContent += ` · ${preview.naturalWidth}×${preview.naturalHeight}`;
  }, { once: true });
  $("results").prepend(card);
  return card;
}

function showBars(card, result, elapsed) {
  const list = card.querySelector(".bars");
  list.replaceChildren();
  for (const item of result.top_k) {
    const percent = (item.score * 100).toFixed(1);
    const row = document.createElement("li");
    row.className = "bar";
    row.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>';
    row.querySelector(".label").textContent = item.label;
    row.querySelector(".label").title = item.label;
    row.querySelector(".fill").style.width = `${percent}%`;
    row.querySelector(".pct").textContent = `${percent}%`;
    row.setAttribute("aria-label", `${item.label}: ${percent}%`);
    list.append(row);
  }
  setState(card, `${result.label} · ${result.model.name} ${result.model.version} · ${(elapsed / 1000).toFixed(2)} s`);
}

function rememberCurl(file, topK) {
  const name = (file.name || "image.png").replace(/'/g, "'\\''");
  const key = apiKey ? ' -H "Authorization: Bearer $INFERENCE_API_KEY"' : "";
  const url = `${location.origin}${SUBMIT}?top_k=${topK}`;
  $("copy-curl").dataset.curl = `curl${key} -F 'image=@${name}' '${url}'`;
  $("copy-curl").disabled = false;
}

async function classify(file) {
  const card = addCard(file);
  if (file.size > config.max_upload_bytes) {
    setState(card, `Not sent: ${sizeText(file.size)} is over the service's limit of ${sizeText(config.max_upload_bytes)}.`, true);
    return;
  }
  const topK = Math.min(20, Math.max(1, Number($("top-k").value) || config.default_top_k));
  rememberCurl(file, topK);
  const started = performance.now();
  setState(card, "Uploading…");
  const form = new FormData();
  form.append("image", file, file.name || "pasted.png");
  try {
    const submitted = await call(card, `${SUBMIT}?top_k=${topK}`, { method: "POST", body: form, headers: authHeaders() });
    const accepted = await submitted.json().catch(() => null);
    if (submitted.status !== 202) { setState(card, explain(submitted.status, accepted), true); return; }
    card.dataset.requestId = accepted.request_id;
    const cancel = card.querySelector(".cancel");
    cancel.hidden = false;
    cancel.addEventListener("click", () => cancelRequest(card, accepted.request_id), { once: true });
    const view = await follow(card, `${SUBMIT}/${accepted.request_id}/events`);
    if (!view) return;  // follow said why
    cancel.hidden = true;
    if (view.status === "succeeded") showBars(card, view.result, performance.now() - started);
    else if (view.status === "canceled") setState(card, "Canceled: the model will not run it.");
    else setState(card, `Could not classify: ${view.error ? view.error.message : view.status}`, true);
  } catch (error) {
    setState(card, `Cannot reach the service: ${error.message}`, true);
  }
}

// The request's status stream (Server-Sent Events, read with fetch because EventSource cannot
// send the API key as a header): each change shows at once, "Queued" then "Processing". The
// stream ends after the terminal record, or after the server's events_seconds: then it is
// opened again, and its first event is the state at that moment. Returns the terminal view, or
// null once the card says what went wrong.
async function follow(card, url) {
  let view = { status: "queued" };
  while (view.status === "queued" || view.status === "processing") {
    setState(card, view.status === "queued" ? "Queued: waiting for the model…" : "Processing…");
    const response = await call(card, url, { headers: { ...authHeaders(), Accept: "text/event-stream" } });
    if (!response.ok) { setState(card, explain(response.status, await response.json().catch(() => null)), true); return null; }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const data = buffer.slice(0, end).split("\n").filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).trimStart()).join("\n");
        buffer = buffer.slice(end + 2);
        if (!data) continue;  // a keep-alive comment
        view = JSON.parse(data);
        if (view.status === "processing") setState(card, "Processing…");
      }
    }
  }
  return view;
}

// The status stream in `classify` hears the outcome: a canceled request is terminal at once.
async function cancelRequest(card, requestId) {
  card.querySelector(".cancel").disabled = true;
  try {
    const response = await call(card, `${SUBMIT}/${requestId}/cancel`, { method: "POST", headers: authHeaders() });
    if (response.status === 409) setState(card, "Too late to cancel: it has finished.");
    else if (!response.ok) setState(card, explain(response.status, await response.json().catch(() => null)), true);
  } catch (error) {
    setState(card, `Cannot reach the service: ${error.message}`, true);
  }
}

async function classifyAll(files) {
  const images = Array.from(files);
  if (!images.length) return;
  say(`Classifying ${images.length} image${images.length > 1 ? "s" : ""}…`);
  await Promise.all(images.map(classify));
  say(`Done: ${images.length} image${images.length > 1 ? "s" : ""}.`);
}

function wire() {
  const drop = $("drop");
  $("files").addEventListener("change", (event) => { classifyAll(event.target.files); event.target.value = ""; });
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("files").click(); }
  });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => { event.preventDefault(); classifyAll(event.dataTransfer.files); });
  document.addEventListener("paste", (event) => {
    const files = Array.from(event.clipboardData.items)
      .filter((item) => item.kind === "file").map((item) => item.getAsFile());
    if (files.length) { event.preventDefault(); classifyAll(files); }
  });
  $("api-key").addEventListener("change", (event) => { apiKey = event.target.value.trim(); showModel(); });
  $("copy-curl").addEventListener("click", async () => {
    const text = $("copy-curl").dataset.curl;
    $("curl-text").textContent = text;
    try {
      await navigator.clipboard.writeText(text);
      say("The curl command is on the clipboard.");
    } catch {
      say("Copy the curl command shown beside the button.");
    }
  });
}

wire();
loadConfig();
