// Vitae's page: sign in with an API token, export a JSON Resume to PDF, follow the export
// live over Server-Sent Events and list past exports. Plain ES module, no build step.

const TOKEN_KEY = "vitae.token";
const TEMPLATE_KEY = "vitae.template";
const PAPER_KEY = "vitae.paperSize";
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const HISTORY_LIMIT = 20;
const POLL_MS = 1500;
// A download link is renewed this long before the server says it expires.
const LINK_MARGIN_MS = 15_000;

const STATUS_LABELS = {
  pending: "Queued",
  processing: "Processing",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
};
const STAGE_LABELS = {
  queued: "Waiting for a worker",
  rendering: "Rendering the PDF",
  storing: "Storing the file",
};
const PAPER_LABELS = { a4: "A4", letter: "US Letter" };

const $ = (id) => document.getElementById(id);

const state = {
  token: null,
  me: null,
  templates: [],
  exports: [],
  total: 0,
  resume: null, // {key, id} of the last résumé created, reused while the text is unchanged
  current: null, // the export followed in the status panel
  dashboard: null, // {source, retryTimer, delay}
  previews: new Map(), // template name → blob URL, or null when it has none
  refreshTimer: null,
};

/** An error the person should read: `detail` is a sentence, `extra` names fields. */
class ApiError extends Error {
  constructor(status, detail, extra = []) {
    super(detail);
    this.status = status;
    this.extra = extra;
  }
}

// ---------------------------------------------------------------- HTTP

async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${state.token}` };
  const init = { method, headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, `Could not reach the server (${error.message}). Check your connection and try again.`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    let detail = typeof data?.detail === "string" && data.detail
      ? data.detail
      : `The server answered ${response.status} ${response.statusText}`.trim();
    const retryAfter = response.headers.get("Retry-After");
    if (response.status === 503 && retryAfter) detail += ` (try again in ${retryAfter} s)`;
    let extra = Array.isArray(data?.extra) ? data.extra : [];
    // A lone detail that repeats the sentence only names its subject (a header, the path).
    if (extra.length === 1 && extra[0].message === data?.detail) extra = [];
    throw new ApiError(response.status, detail, extra);
  }
  return data;
}

// ---------------------------------------------------------------- messages

/** Text with `backticked` parts shown as code, built without innerHTML. */
function richText(element, text) {
  element.replaceChildren();
  String(text).split("`").forEach((part, index) => {
    if (!part) return;
    if (index % 2) {
      const code = document.createElement("code");
      code.textContent = part;
      element.append(code);
    } else {
      element.append(part);
    }
  });
}

// What a type in the API's validation messages (msgspec's) is, in words.
const TYPE_WORDS = {
  str: "text",
  int: "a whole number",
  float: "a number",
  bool: "true or false",
  array: "a list",
  object: "an object",
  null: "empty",
};

function typeInWords(types) {
  const words = types.split("|").map((t) => t.trim()).filter((t) => t !== "null");
  return words.map((t) => TYPE_WORDS[t] ?? t).join(" or ") || "empty";
}

/**
 * One of the API's error details as a sentence that names the field as the person wrote it:
 * `content.basics.name` + "Expected `str | null`, got `int`" → "basics.name must be text".
 */
function sentence(item) {
  const field = String(item.key ?? "").replace(/^content\./, "") || "the résumé";
  const message = String(item.message ?? "");
  const rules = [
    [/^Expected `([^`]+)`, got `(\w+)`/, (m) => `must be ${typeInWords(m[1])}, not ${typeInWords(m[2])}`],
    [/^Object missing required field `[^`]+`/, () => "is required"],
    [/^Object contains unknown field `([^`]+)`/, (m) => `has a field \`${m[1]}\` that a JSON Resume does not have`],
    [/^Expected `\w+` matching regex/, () => "is not in the expected format"],
    [/^Expected `(str|array|object)` of length <= (\d+)/, (m) =>
      `is too long (at most ${m[2]} ${m[1] === "str" ? "characters" : "items"})`],
    [/^Expected `(int|float)` >= (\S+)/, (m) => `must be at least ${m[2]}`],
    [/^Expected `(int|float)` <= (\S+)/, (m) => `must be at most ${m[2]}`],
    [/^Invalid ISO 8601 date/, () => "must be a date such as 2024-05-01"],
  ];
  for (const [pattern, say] of rules) {
    const match = message.match(pattern);
    if (match) return `\`${field}\` ${say(match)}.`;
  }
  return `\`${field}\`: ${message}`;
}

function fillMessage(textEl, listEl, text, extra = []) {
  richText(textEl, text);
  listEl.replaceChildren(
    ...extra.map((item) => {
      const li = document.createElement("li");
      richText(li, sentence(item));
      return li;
    }),
  );
  listEl.hidden = extra.length === 0;
}

function showAlert(text, extra = []) {
  fillMessage($("alert-text"), $("alert-list"), text, extra);
  $("alert").hidden = false;
  $("alert").scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function clearAlert() {
  $("alert").hidden = true;
}

function showResumeError(text, extra = []) {
  fillMessage($("resume-error-text"), $("resume-error-list"), text, extra);
  $("resume-error").hidden = false;
  $("resume").setAttribute("aria-invalid", "true");
  $("resume").focus({ preventScroll: true });
  $("resume-error").scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function clearResumeError() {
  $("resume-error").hidden = true;
  $("resume").removeAttribute("aria-invalid");
}

/** Show an API or network error; a refused token signs the person out. */
function reportError(error, context) {
  if (error instanceof ApiError && error.status === 401) {
    signOut();
    showAlert(`The server refused your token: ${error.message}. Sign in again.`);
    return;
  }
  if (error instanceof ApiError) {
    showAlert(`${context}: ${error.message}`, error.extra);
    return;
  }
  console.error(error);
  showAlert(`${context}: ${error?.message ?? error}`);
}

// ---------------------------------------------------------------- formatting

function formatSize(bytes) {
  if (bytes == null) return "";
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB"];
  let value = bytes;
  let unit = "B";
  for (const next of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = next;
  }
  return `${value.toLocaleString(undefined, { maximumFractionDigits: value < 10 ? 1 : 0 })} ${unit}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : dateFormat.format(date);
}

function templateTitle(name) {
  return state.templates.find((t) => t.name === name)?.title ?? name;
}

/** The percentage a status alone implies, for events without one. */
function impliedPercent(status) {
  return { pending: 2, processing: 5, completed: 100 }[status] ?? 0;
}

// ---------------------------------------------------------------- sign-in

function showSignIn(token = "") {
  stopDashboard();
  stopFollowing();
  $("workspace").hidden = true;
  $("account").hidden = true;
  $("sign-in").hidden = false;
  $("token").value = token;
  $("token").focus();
}

function signOut() {
  localStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.me = null;
  state.resume = null;
  for (const url of state.previews.values()) if (url) URL.revokeObjectURL(url);
  state.previews.clear();
  showSignIn();
}

async function signIn(token) {
  clearAlert();
  stopFollowing();
  $("export-status").hidden = true;
  state.resume = null;
  state.token = token;
  let me;
  try {
    me = await api("/api/users/me");
  } catch (error) {
    state.token = null;
    if (error instanceof ApiError && error.status === 401) {
      localStorage.removeItem(TOKEN_KEY);
      showSignIn();
      showAlert(`This token was refused: ${error.message}.`);
    } else {
      showSignIn(token);
      showAlert(`Could not sign in: ${error.message}`);
    }
    return;
  }
  localStorage.setItem(TOKEN_KEY, token);
  state.me = me;
  $("sign-in").hidden = true;
  $("workspace").hidden = false;
  $("account").hidden = false;
  $("account-email").textContent = me.email;
  $("account-credits").textContent = `${me.creditBalance} credit${me.creditBalance === 1 ? "" : "s"}`;
  await Promise.all([loadTemplates(), loadExports()]);
  startDashboard();
}

function tokenFromHash() {
  if (!location.hash) return null;
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token !== null) {
    // A token has no business in the address bar, the history or a bookmark.
    history.replaceState(null, "", location.pathname + location.search);
  }
  return token?.trim() || null;
}

// ---------------------------------------------------------------- templates

async function loadTemplates() {
  const list = $("template-list");
  try {
    state.templates = await api("/api/templates");
  } catch (error) {
    list.replaceChildren();
    reportError(error, "Could not load the templates");
    return;
  }
  const saved = localStorage.getItem(TEMPLATE_KEY);
  const chosen = state.templates.some((t) => t.name === saved) ? saved : state.templates[0]?.name;
  list.replaceChildren(
    ...state.templates.map((template) => {
      const id = `template-${template.name}`;
      const option = document.createElement("div");
      option.className = "template-option";
      const input = document.createElement("input");
      Object.assign(input, { type: "radio", name: "template", id, value: template.name });
      input.checked = template.name === chosen;
      input.setAttribute("aria-describedby", `${id}-description`);
      const label = document.createElement("label");
      label.htmlFor = id;
      const title = document.createElement("span");
      title.className = "template-title";
      title.textContent = template.title;
      const sizes = document.createElement("span");
      sizes.className = "template-sizes";
      sizes.textContent = template.paperSizes.map((s) => PAPER_LABELS[s] ?? s).join(" · ");
      const description = document.createElement("span");
      description.className = "template-description";
      description.id = `${id}-description`;
      description.textContent = template.description;
      label.append(title, sizes, description);
      option.append(input, label);
      return option;
    }),
  );
  if (state.templates.length === 0) {
    list.replaceChildren(Object.assign(document.createElement("p"), { className: "hint", textContent: "No templates are installed." }));
  }
  onTemplateChange();
}

function selectedTemplate() {
  return document.querySelector('input[name="template"]:checked')?.value ?? null;
}

function onTemplateChange() {
  const name = selectedTemplate();
  if (!name) return;
  localStorage.setItem(TEMPLATE_KEY, name);
  const template = state.templates.find((t) => t.name === name);
  const select = $("paper-size");
  const wanted = select.value || localStorage.getItem(PAPER_KEY) || "a4";
  for (const option of select.options) option.disabled = !template.paperSizes.includes(option.value);
  select.value = template.paperSizes.includes(wanted) ? wanted : template.paperSizes[0];
  showPreview(name);
}

/** The template's preview image, if the API has one; fetched with the token, shown as a blob. */
async function showPreview(name) {
  if (!state.previews.has(name)) {
    let url = null;
    try {
      const template = state.templates.find((t) => t.name === name);
      const path = template?.previewUrl ?? `/api/templates/${encodeURIComponent(name)}/preview.png`;
      const response = await fetch(path, {
        headers: { Authorization: `Bearer ${state.token}` },
      });
      if (response.ok && (response.headers.get("Content-Type") ?? "").startsWith("image/")) {
        url = URL.createObjectURL(await response.blob());
      }
    } catch {
      url = null; // a preview is a nicety: without one the choice still works
    }
    state.previews.set(name, url);
  }
  if (selectedTemplate() !== name) return; // the choice changed while the image loaded
  const url = state.previews.get(name);
  $("preview").hidden = !url;
  if (url) {
    $("preview-image").src = url;
    $("preview-link").href = url;
    $("preview-image").alt = `Preview of the ${templateTitle(name)} template`;
    $("preview-caption").textContent = templateTitle(name);
  }
}

// ---------------------------------------------------------------- the résumé field

function parseResume() {
  const text = $("resume").value.trim();
  if (!text) {
    showResumeError("Paste a JSON Resume or upload a .json file first.");
    return null;
  }
  let content;
  try {
    content = JSON.parse(text);
  } catch (error) {
    showResumeError(`This is not valid JSON: ${error.message}`);
    return null;
  }
  if (content === null || typeof content !== "object" || Array.isArray(content)) {
    showResumeError("A JSON Resume is a JSON object, such as `{\"basics\": {\"name\": \"Ada\"}}`.");
    return null;
  }
  return content;
}

function defaultTitle(content) {
  const name = typeof content.basics?.name === "string" ? content.basics.name.trim() : "";
  const label = typeof content.basics?.label === "string" ? content.basics.label.trim() : "";
  return (name ? (label ? `${name} — ${label}` : name) : "Untitled résumé").slice(0, 200);
}

async function loadFile(file) {
  if (!file) return;
  clearResumeError();
  let text;
  try {
    text = await file.text();
  } catch (error) {
    showResumeError(`Could not read ${file.name}: ${error.message}`);
    return;
  }
  $("resume").value = text;
  const content = parseResume();
  if (content) {
    $("resume").value = JSON.stringify(content, null, 2);
    $("title").placeholder = defaultTitle(content);
  }
}

function formatResume() {
  clearResumeError();
  const content = parseResume();
  if (content) $("resume").value = JSON.stringify(content, null, 2);
}

// ---------------------------------------------------------------- exporting

/** The résumé's id: the last one created while the text and title are unchanged, else a new one. */
async function saveResume(content, title, template) {
  const key = JSON.stringify([content, title]);
  if (state.resume?.key === key) return { id: state.resume.id, reused: true };
  const created = await api("/api/resumes", { method: "POST", body: { title, content, template } });
  state.resume = { key, id: created.id };
  return { id: created.id, reused: false };
}

async function onExport(event) {
  event.preventDefault();
  clearAlert();
  clearResumeError();
  const content = parseResume();
  if (!content) return;
  const template = selectedTemplate();
  if (!template) {
    showAlert("Choose a template first.");
    return;
  }
  const paperSize = $("paper-size").value;
  localStorage.setItem(PAPER_KEY, paperSize);
  const title = $("title").value.trim() || defaultTitle(content);
  stopFollowing(); // the panel will show the new export, not the last one
  $("export-status").hidden = true;
  const button = $("export-button");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = "Starting…";
  try {
    let resume;
    try {
      resume = await saveResume(content, title, template);
    } catch (error) {
      if (error instanceof ApiError && error.status === 400) {
        const count = error.extra.length === 1 ? "a mistake" : "mistakes";
        showResumeError(`This résumé has ${count} to fix before it can be exported:`, error.extra);
        return;
      }
      throw error;
    }
    const request = { resumeId: resume.id, template, paperSize };
    let created;
    try {
      created = await api("/api/exports", { method: "POST", body: request });
    } catch (error) {
      // The reused résumé may have been deleted elsewhere meanwhile: save it again, once.
      if (!(resume.reused && error instanceof ApiError && error.status === 404)) throw error;
      state.resume = null;
      request.resumeId = (await saveResume(content, title, template)).id;
      created = await api("/api/exports", { method: "POST", body: request });
    }
    follow(created, { template, paperSize });
    scheduleRefresh();
  } catch (error) {
    reportError(error, "The export could not start");
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = "Export PDF";
  }
}

// ---------------------------------------------------------------- following one export

function stopFollowing() {
  const current = state.current;
  if (!current) return;
  current.source?.close();
  clearTimeout(current.pollTimer);
  current.stopped = true;
  state.current = null;
}

function follow(created, { template, paperSize }) {
  stopFollowing();
  const view = {
    id: created.exportId,
    statusUrl: created.statusUrl,
    status: created.status,
    version: 0,
    percent: 0,
    stages: [],
    watermarked: created.watermarked,
    template,
    paperSize,
    source: null,
    pollTimer: null,
    stopped: false,
  };
  state.current = view;
  const panel = $("export-status");
  panel.hidden = false;
  panel.dataset.stages = "";
  panel.dataset.stream = "connecting";
  $("status-error").hidden = true;
  $("download-link").hidden = true;
  $("file-size").textContent = "";
  renderStatus(view, { status: created.status });

  const source = new EventSource(created.eventsUrl);
  view.source = source;
  const onMessage = (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // not ours to show: the next event or the poll brings the state
    }
    applyEvent(view, data, event.type);
  };
  source.addEventListener("status", onMessage);
  source.addEventListener("progress", onMessage);
  source.addEventListener("open", () => {
    panel.dataset.stream = "open";
    setNote(view);
  });
  source.addEventListener("error", () => {
    if (view.stopped || TERMINAL.has(view.status)) return;
    if (source.readyState === EventSource.CLOSED) {
      // Refused (e.g. the stream's token expired) or unreachable: poll with the bearer token.
      panel.dataset.stream = "closed";
      source.close();
      poll(view);
    } else {
      panel.dataset.stream = "reconnecting";
      setNote(view, "Connection lost; reconnecting…");
    }
  });
}

async function poll(view) {
  if (view.stopped) return;
  try {
    const data = await api(view.statusUrl);
    applyEvent(view, data, "status");
  } catch (error) {
    if (error instanceof ApiError && error.status !== 0) {
      reportError(error, "Could not follow the export");
      return;
    }
    setNote(view, "The server cannot be reached; still trying…");
  }
  if (!view.stopped && !TERMINAL.has(view.status)) {
    view.pollTimer = setTimeout(() => poll(view), POLL_MS);
  }
}

function applyEvent(view, data, kind) {
  if (view.stopped || data.id !== view.id || data.version < view.version) return;
  view.version = data.version;
  view.status = data.status;
  const panel = $("export-status");
  if (kind === "progress" && data.stage) {
    view.stages.push(data.stage);
    panel.dataset.stages = view.stages.join(" ");
  }
  renderStatus(view, data);
  upsertExport(data);
  if (TERMINAL.has(data.status)) {
    view.source?.close();
    clearTimeout(view.pollTimer);
    scheduleRefresh();
  }
}

function setNote(view, text) {
  const notes = [];
  if (text) notes.push(text);
  if (view.watermarked) notes.push("Free plan: this PDF carries a watermark.");
  $("status-note").textContent = notes.join(" ");
  $("status-note").hidden = notes.length === 0;
}

function renderStatus(view, data) {
  const { status } = data;
  const percent = status === "completed" ? 100 : Math.max(view.percent, data.progress ?? impliedPercent(status));
  view.percent = percent;
  const panel = $("export-status");
  panel.dataset.status = status;
  const pill = $("status-pill");
  pill.textContent = STATUS_LABELS[status] ?? status;
  pill.dataset.status = status;
  const stage = data.stage ?? (status === "pending" ? "queued" : null);
  const what = `${templateTitle(view.template)}, ${PAPER_LABELS[view.paperSize] ?? view.paperSize}`;
  let line;
  if (status === "completed") line = `Your PDF is ready (${what}).`;
  else if (status === "failed") line = `The export failed (${what}).`;
  else if (status === "cancelled") line = "The export was cancelled.";
  else line = `${STAGE_LABELS[stage] ?? "Working"}… (${what})`;
  $("status-stage").textContent = line;
  $("status-percent").textContent = TERMINAL.has(status) && status !== "completed" ? "" : `${percent}%`;
  $("status-bar").setAttribute("aria-valuenow", String(percent));
  $("status-bar-fill").style.width = `${percent}%`;
  $("status-bar").dataset.status = status;

  // While a retry is pending, `error` says why the last attempt failed.
  setNote(view, !TERMINAL.has(status) && data.error ? `Retrying: ${data.error}` : "");
  const errorEl = $("status-error");
  errorEl.hidden = status !== "failed";
  if (status === "failed") richText(errorEl, data.error || "The export failed for an unknown reason.");

  const link = $("download-link");
  if (status === "completed" && data.fileUrl) {
    setDownloadLink(link, data);
    link.hidden = false;
    $("file-size").textContent = formatSize(data.fileSize);
  }
  $("cancel-export").hidden = TERMINAL.has(status);
}

async function cancelCurrent() {
  const view = state.current;
  if (!view) return;
  $("cancel-export").disabled = true;
  try {
    const data = await api(view.statusUrl, { method: "DELETE" });
    applyEvent(view, data, "status");
  } catch (error) {
    reportError(error, "Could not cancel the export");
  } finally {
    $("cancel-export").disabled = false;
  }
}

// ---------------------------------------------------------------- download links

/** Point a link at a completed export's file; the link knows when it expires. */
function setDownloadLink(link, item) {
  link.href = item.fileUrl;
  link.dataset.exportId = item.id;
  link.dataset.expiresAt = String(Date.now() + (item.urlExpiresIn ?? 0) * 1000);
  if (item.fileName) link.download = item.fileName;
  else link.setAttribute("download", "");
}

/** A download link that has expired is renewed first: the API signs a fresh one per request. */
async function onDownloadClick(event) {
  const link = event.target.closest("a[data-export-id]");
  if (!link || Date.now() < Number(link.dataset.expiresAt) - LINK_MARGIN_MS) return;
  event.preventDefault();
  try {
    const fresh = await api(`/api/exports/${link.dataset.exportId}`);
    if (!fresh.fileUrl) throw new ApiError(409, "the file is no longer available");
    setDownloadLink(link, fresh);
    link.click();
  } catch (error) {
    reportError(error, "Could not renew the download link");
  }
}

// ---------------------------------------------------------------- past exports

async function loadExports() {
  try {
    const page = await api(`/api/exports?limit=${HISTORY_LIMIT}`);
    state.exports = page.items;
    state.total = page.total;
  } catch (error) {
    reportError(error, "Could not load your past exports");
    return;
  }
  renderExports();
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => {
    if (state.token) loadExports();
  }, 250);
}

function upsertExport(item) {
  const index = state.exports.findIndex((e) => e.id === item.id);
  if (index >= 0) {
    if (item.version < state.exports[index].version) return;
    state.exports[index] = item;
  } else {
    state.exports.unshift(item);
    state.total += 1;
    state.exports.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    state.exports.length = Math.min(state.exports.length, HISTORY_LIMIT);
  }
  renderExports();
}

function cell(label, ...content) {
  const td = document.createElement("td");
  td.dataset.label = label;
  const inner = document.createElement("span");
  inner.append(...content);
  td.append(inner);
  return td;
}

function exportRow(item) {
  const row = document.createElement("tr");
  row.dataset.exportId = item.id;
  row.dataset.status = item.status;
  const when = document.createElement("time");
  when.dateTime = item.createdAt;
  when.textContent = formatDate(item.createdAt);
  const pill = document.createElement("span");
  pill.className = "pill";
  pill.dataset.status = item.status;
  pill.textContent = STATUS_LABELS[item.status] ?? item.status;
  const statusContent = [pill];
  if (item.watermarked) {
    statusContent.push(Object.assign(document.createElement("span"), { className: "tag", textContent: "watermarked" }));
  }
  const file = [];
  if (item.status === "completed" && item.fileUrl) {
    const link = document.createElement("a");
    link.className = "download";
    link.textContent = "Download";
    link.setAttribute("aria-label", `Download the ${templateTitle(item.template)} PDF of ${formatDate(item.createdAt)}`);
    setDownloadLink(link, item);
    file.push(link, Object.assign(document.createElement("span"), { className: "hint", textContent: ` ${formatSize(item.fileSize)}` }));
  } else if (item.status === "failed") {
    const message = document.createElement("span");
    message.className = "row-error";
    richText(message, item.error || "failed");
    file.push(message);
  } else if (!TERMINAL.has(item.status)) {
    const stage = item.stage ?? (item.status === "pending" ? "queued" : null);
    const percent = item.progress ?? impliedPercent(item.status);
    file.push(Object.assign(document.createElement("span"), { className: "hint", textContent: `${STAGE_LABELS[stage] ?? "Working"} · ${percent}%` }));
  } else {
    file.push(Object.assign(document.createElement("span"), { className: "hint", textContent: "—" }));
  }
  row.append(
    cell("Requested", when),
    cell("Template", templateTitle(item.template)),
    cell("Paper", PAPER_LABELS[item.paperSize] ?? item.paperSize),
    cell("Status", ...statusContent),
    cell("File", ...file),
  );
  return row;
}

function renderExports() {
  const empty = state.exports.length === 0;
  $("history-empty").hidden = !empty;
  $("history-table").hidden = empty;
  $("history-rows").replaceChildren(...state.exports.map(exportRow));
  const total = $("history-total");
  total.hidden = state.total <= state.exports.length;
  total.textContent = `The ${state.exports.length} most recent of ${state.total} exports.`;
}

// ---------------------------------------------------------------- the dashboard stream

function stopDashboard() {
  const dashboard = state.dashboard;
  if (!dashboard) return;
  dashboard.source?.close();
  clearTimeout(dashboard.retryTimer);
  state.dashboard = null;
  setLive("off");
}

const LIVE_LABELS = { connecting: "Connecting…", on: "Live", off: "Offline" };

/** The dashboard stream's state, next to the list it keeps up to date. */
function setLive(live) {
  $("live").dataset.live = live;
  $("live").textContent = LIVE_LABELS[live];
}

/** Every change to the person's exports, live; a refused stream gets a fresh token and URL. */
function startDashboard(delay = 0) {
  stopDashboard();
  if (!state.me?.eventsUrl) return;
  const dashboard = { source: new EventSource(state.me.eventsUrl), retryTimer: null };
  state.dashboard = dashboard;
  setLive("connecting");
  const onMessage = (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // a malformed event changes nothing; the next refresh brings the truth
    }
    upsertExport(data);
    if (TERMINAL.has(data.status)) scheduleRefresh();
  };
  let opened = false;
  dashboard.source.addEventListener("status", onMessage);
  dashboard.source.addEventListener("progress", onMessage);
  dashboard.source.addEventListener("open", () => {
    setLive("on");
    if (opened || delay > 0) scheduleRefresh(); // catch up with what changed while away
    opened = true;
    delay = 0;
  });
  dashboard.source.addEventListener("error", () => {
    if (dashboard.source.readyState !== EventSource.CLOSED) {
      setLive("connecting"); // the browser reconnects by itself
      return;
    }
    setLive("off");
    const next = Math.min(Math.max(delay * 2, 2000), 60_000);
    dashboard.retryTimer = setTimeout(async () => {
      if (state.dashboard !== dashboard) return;
      try {
        state.me = await api("/api/users/me");
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          reportError(error, "");
          return;
        }
      }
      if (state.dashboard === dashboard) startDashboard(next);
    }, next);
  });
}

// ---------------------------------------------------------------- wiring

function wire() {
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    if (token) signIn(token);
  });
  $("sign-out").addEventListener("click", () => {
    clearAlert();
    signOut();
  });
  $("alert-close").addEventListener("click", clearAlert);
  $("export-form").addEventListener("submit", onExport);
  $("template-list").addEventListener("change", onTemplateChange);
  $("paper-size").addEventListener("change", () => localStorage.setItem(PAPER_KEY, $("paper-size").value));
  $("resume-file").addEventListener("change", (event) => {
    loadFile(event.target.files[0]);
    event.target.value = ""; // the same file can be chosen again
  });
  $("format-json").addEventListener("click", formatResume);
  $("resume").addEventListener("input", () => {
    if (!$("resume-error").hidden) clearResumeError();
  });
  $("resume").addEventListener("change", () => {
    try {
      const content = JSON.parse($("resume").value);
      if (content && typeof content === "object") $("title").placeholder = defaultTitle(content);
    } catch {
      // reported when the person exports; typing is not an error yet
    }
  });
  $("resume").addEventListener("dragover", (event) => {
    if (event.dataTransfer.types.includes("Files")) {
      event.preventDefault();
      $("resume").classList.add("dropping");
    }
  });
  $("resume").addEventListener("dragleave", () => $("resume").classList.remove("dropping"));
  $("resume").addEventListener("drop", (event) => {
    $("resume").classList.remove("dropping");
    if (event.dataTransfer.files.length) {
      event.preventDefault();
      loadFile(event.dataTransfer.files[0]);
    }
  });
  $("cancel-export").addEventListener("click", cancelCurrent);
  $("refresh").addEventListener("click", loadExports);
  document.addEventListener("click", onDownloadClick);
  window.addEventListener("hashchange", () => {
    const token = tokenFromHash();
    if (token) signIn(token);
  });
}

function start() {
  wire();
  const token = tokenFromHash() ?? localStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
  else showSignIn();
}

start();
