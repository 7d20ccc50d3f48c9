// The dev server's web UI: vanilla ES2020, no build step, no framework, no external URL.
//
// Safety rule for this file: every piece of data from the API is put into the page with
// textContent or setAttribute (through el() below), never parsed as HTML.
//
// Data flow: the hash names the page; the page builds its fixed parts once (forms, filters),
// then `refresh()` fetches the page's data and re-renders only the data region. A 1 s poll of
// /ui/api/version calls refresh() again when anything changed. body[data-page] and
// body[data-version] are set after each render; the browser tests wait on them.
(() => {
  "use strict";

  const API = "/ui/api";
  const POLL_MS = 1000;
  const RUN_STATUSES = ["Queued", "Running", "Completed", "Failed", "Cancelled"];
  const KIND_LABELS = {
    run: "step.run",
    sleep: "sleep",
    wait: "wait for event",
    invoke: "invoke",
    ai: "ai",
    send: "send event",
    function: "function",
  };
  const DEADLINE_KINDS = new Set(["sleep", "wait", "invoke"]);
  // Timeline statuses of a step that has not ended: only these wait for a deadline or tick.
  const OPEN_STATUSES = new Set(["running", "sleeping", "waiting", "retrying"]);

  // ---------------------------------------------------------------- DOM helpers

  // el("tr", {class: "x", dataset: {runId: id}, onclick: fn}, child, ...): children may be
  // strings (become text nodes), nodes, arrays of those, or null/false (skipped).
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "dataset") {
        for (const [dk, dv] of Object.entries(value)) {
          if (dv !== null && dv !== undefined) node.dataset[dk] = String(dv);
        }
      } else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = String(value);
      else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) append(node, child);
      else if (child instanceof Node) node.appendChild(child);
      else node.appendChild(document.createTextNode(String(child)));
    }
  }

  // The SVG namespace is taken from the sprite in index.html (parsed as SVG by the HTML parser),
  // so no namespace URL has to be written here.
  function icon(name) {
    const sprite = document.querySelector("svg.sprite");
    const ns = sprite ? sprite.namespaceURI : null;
    if (!ns || !document.getElementById("i-" + name)) {
      return el("span", { class: "icon icon-missing", "aria-hidden": "true" });
    }
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "icon icon-" + name);
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("viewBox", "0 0 16 16");
    const use = document.createElementNS(ns, "use");
    use.setAttribute("href", "#i-" + name);
    svg.appendChild(use);
    return svg;
  }

  function badge(status) {
    const s = String(status || "unknown");
    return el("span", { class: "badge status-" + s.toLowerCase(), text: s });
  }

  // JSON for reading: one line when short, indented otherwise.
  function json(value) {
    const v = value === undefined ? null : value;
    const flat = JSON.stringify(v);
    if (flat === undefined) return "null";
    if (flat.length <= 72) return flat;
    return JSON.stringify(v, null, 2);
  }

  function runHref(runId) {
    return "#/runs/" + encodeURIComponent(runId);
  }

  function runLink(runId, label, status) {
    return el(
      "a",
      { class: "run-link", href: runHref(runId), dataset: { runId, status } },
      label === undefined ? shortId(runId) : label,
    );
  }

  function shortId(id) {
    const s = String(id || "");
    return s.length > 14 ? s.slice(0, 6) + "…" + s.slice(-6) : s;
  }

  function errorBlock(error, extraClass) {
    // {name, message, stack}; the stack is shown in full (scrollable), not collapsed, so its
    // text is visible to readers and to WebDriver alike.
    const e = error || {};
    return el(
      "div",
      { class: "error-box" + (extraClass ? " " + extraClass : "") },
      el("div", { class: "error-title" },
        el("span", { class: "error-name", text: e.name || "Error" }),
        ": ",
        el("span", { class: "error-message", text: e.message || "" }),
      ),
      e.stack ? el("pre", { class: "error-stack", text: e.stack }) : null,
    );
  }

  // ---------------------------------------------------------------- time formatting

  function nowSec() {
    return Date.now() / 1000;
  }

  function fmtTime(t, withMs) {
    if (t === null || t === undefined) return "—";
    const d = new Date(t * 1000);
    const opts = { hour: "2-digit", minute: "2-digit", second: "2-digit" };
    if (withMs) opts.fractionalSecondDigits = 3;
    const time = d.toLocaleTimeString(undefined, opts);
    const today = new Date();
    if (d.toDateString() === today.toDateString()) return time;
    return d.toLocaleDateString(undefined, { month: "short", day: "numeric" }) + " " + time;
  }

  // An event's own `ts` is in milliseconds on the wire; accept seconds too.
  function eventTs(ts) {
    return ts > 1e11 ? ts / 1000 : ts;
  }

  function fullTime(t) {
    return t === null || t === undefined ? null : new Date(t * 1000).toString();
  }

  // A span of seconds as "3m 20s", "1h 5m", "2d 4h", "45s".
  function fmtSpan(seconds) {
    let s = Math.max(0, Math.round(seconds));
    const d = Math.floor(s / 86400);
    s -= d * 86400;
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + s + "s";
    return s + "s";
  }

  function fmtDurationMs(ms) {
    if (ms === null || ms === undefined) return "—";
    if (ms < 1000) return (ms < 10 ? ms.toFixed(1) : Math.round(ms)) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
    return fmtSpan(ms / 1000);
  }

  function relDeadline(deadline) {
    const left = deadline - nowSec();
    return left > 0 ? "in " + fmtSpan(Math.ceil(left)) : "passed";
  }

  // A span whose text is kept current by the 1 s tick: a deadline ("in 3m 20s" / "passed") or
  // the running time of something not yet finished.
  function liveSpan(kind, t) {
    const span = el("span", { class: "live-time", dataset: { liveKind: kind, liveT: t } });
    updateLive(span);
    return span;
  }

  function updateLive(span) {
    const t = Number(span.dataset.liveT);
    if (span.dataset.liveKind === "deadline") span.textContent = relDeadline(t);
    else span.textContent = fmtSpan(nowSec() - t) + "…";
  }

  function runDuration(startedAt, endedAt) {
    if (startedAt === null || startedAt === undefined) return "—";
    if (endedAt === null || endedAt === undefined) return liveSpan("since", startedAt);
    return fmtDurationMs((endedAt - startedAt) * 1000);
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, options) {
    // A stuck request would stall the poll loop, so every call gives up after a while.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 15000);
    const opts = { headers: { accept: "application/json" }, cache: "no-store", signal: abort.signal };
    if (options && "body" in options) {
      opts.method = options.method || "POST";
      opts.headers["content-type"] = "application/json";
      opts.body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
    } else if (options && options.method) {
      opts.method = options.method;
    }
    let response;
    try {
      response = await fetch(API + path, opts);
    } catch (err) {
      clearTimeout(timer);
      throw new ApiError(0, "cannot reach the dev server (" + err.message + ")");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_err) {
      body = null;
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 401 && body && body.login) {
      // A server with a signing key, and this browser is not signed in.
      location.assign(body.login);
    }
    if (!response.ok) {
      const msg = body && typeof body.error === "string" ? body.error : "HTTP " + response.status;
      throw new ApiError(response.status, msg);
    }
    return body;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    const s = q.toString();
    return s ? "?" + s : "";
  }

  // ---------------------------------------------------------------- routing

  function parseRoute() {
    const raw = location.hash.replace(/^#\/?/, "");
    const qi = raw.indexOf("?");
    const path = qi >= 0 ? raw.slice(0, qi) : raw;
    const params = new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : "");
    const parts = path.split("/").filter(Boolean).map((p) => decodeURIComponent(p));
    if (parts[0] === "runs" && parts.length > 1) return { page: "run", runId: parts[1], params };
    if (parts[0] === "events" && parts.length > 1) return { page: "event", eventId: parts[1], params };
    if (["events", "functions", "apps", "workers"].includes(parts[0])) return { page: parts[0], params };
    return { page: "runs", params };
  }

  // ---------------------------------------------------------------- re-rendering

  // Replace a region's content keeping the reader's place: window scroll, which <details> are
  // open and how far keyed boxes are scrolled survive the swap.
  function swap(region, nodes) {
    const x = window.scrollX;
    const y = window.scrollY;
    const kept = new Map();
    for (const node of region.querySelectorAll("[data-key]")) {
      kept.set(node.dataset.key, { open: node.open, top: node.scrollTop });
    }
    region.replaceChildren(...nodes.filter((n) => n !== null && n !== undefined));
    for (const node of region.querySelectorAll("[data-key]")) {
      const k = kept.get(node.dataset.key);
      if (!k) continue;
      if (node.tagName === "DETAILS") node.open = k.open;
      if (k.top) node.scrollTop = k.top;
    }
    window.scrollTo(x, y);
  }

  function emptyRow(colspan, text) {
    return el("tr", { class: "empty" }, el("td", { colspan, text }));
  }

  // A table in a box that scrolls sideways on a narrow screen (the page itself never does).
  // A header is text, or a ready <th>.
  function table(headers, rows, emptyText) {
    // Each cell is labelled with its column, for narrow screens where rows stack as cards.
    const labels = headers.map((h) => (h instanceof Node ? "" : h));
    for (const row of rows) {
      Array.from(row.children).forEach((cell, i) => {
        if (labels[i] && !cell.dataset.label) cell.dataset.label = labels[i];
      });
    }
    return el("div", { class: "table-wrap" }, el(
      "table",
      { class: "grid" },
      el("thead", {}, el("tr", {}, headers.map((h) => (h instanceof Node ? h : el("th", { text: h }))))),
      el("tbody", {}, rows.length ? rows : emptyRow(headers.length, emptyText)),
    ));
  }

  // ---------------------------------------------------------------- pages
  //
  // Each page factory returns {root, load(), render(data)}: root is mounted once per visit;
  // load() fetches; render() updates the data region only.

  const pages = {};

  // ---------------------------------------------------------------- list search and pages
  //
  // The run and event lists are searched and paged by the server (keyset cursors): a pager
  // keeps the cursors of the pages before the one shown, so "Newer" can step back.

  function pager(onChange) {
    const state = { before: [], cursor: "", next: null };
    const newer = el("button", { type: "button", class: "pager-newer", onclick: onNewer }, "← Newer");
    const older = el("button", { type: "button", class: "pager-older", onclick: onOlder }, "Older →");
    const label = el("span", { class: "muted small pager-label" });
    const root = el("div", { class: "pager" }, newer, label, older);

    function onNewer() {
      if (!state.before.length) return;
      state.cursor = state.before.pop();
      onChange();
    }

    function onOlder() {
      if (!state.next) return;
      state.before.push(state.cursor);
      state.cursor = state.next;
      onChange();
    }

    function update(next, note) {
      state.next = next;
      newer.disabled = state.before.length === 0;
      older.disabled = !next;
      label.textContent = "page " + (state.before.length + 1) + (note ? " · " + note : "");
      root.dataset.page = String(state.before.length + 1);
    }

    function reset() {
      state.before = [];
      state.cursor = "";
    }

    return { root, state, update, reset };
  }

  // <input type="datetime-local"> speaks local time without a zone; the API takes RFC 3339.
  function localToIso(value) {
    if (!value) return "";
    const t = new Date(value);
    return isNaN(t.getTime()) ? "" : t.toISOString();
  }

  function isoToLocal(value) {
    const t = new Date(value);
    if (!value || isNaN(t.getTime())) return "";
    const local = new Date(t.getTime() - t.getTimezoneOffset() * 60000);
    return local.toISOString().slice(0, 16);
  }

  // A search the server refused (400) is shown next to the filters, not as a load error.
  async function searchOrError(path) {
    try {
      return { page: await api(path) };
    } catch (err) {
      if (err.status === 400) return { error: err.message };
      throw err;
    }
  }

  function searchError(node, message) {
    node.textContent = message ? "Search refused: " + message : "";
    node.hidden = !message;
  }

  // A list's filters changed: mirror them in the address at ``hash`` (a reload or a bookmark
  // keeps them) and show the first page of what they find.
  function filtersChanged(hash, filters, paging, refresh) {
    history.replaceState(null, "", hash + query(filters));
    paging.reset();
    refresh();
  }

  // A search form's submit handler: ``apply`` its filters without leaving the page.
  function submitTo(apply) {
    return (ev) => {
      ev.preventDefault();
      apply();
    };
  }

  // Runs: filters stay put across refreshes; they are mirrored in the hash query
  // (#/runs?status=Failed&function=slug&query=...) so a search can be bookmarked.
  const RUN_FILTERS = ["status", "function", "app", "from", "to", "event_id", "query"];

  pages.runs = (route) => {
    const filters = {};
    for (const k of RUN_FILTERS) filters[k] = route.params.get(k) || "";
    const statusSel = el(
      "select",
      { id: "filter-status", name: "status", onchange: onFilter },
      el("option", { value: "", text: "All statuses" }),
      RUN_STATUSES.map((s) => el("option", { value: s, text: s })),
    );
    statusSel.value = filters.status;
    const fnSel = el(
      "select",
      { id: "filter-function", name: "function", onchange: onFilter },
      el("option", { value: "", text: "All functions" }),
    );
    setFunctionOptions(fnSel, [], filters.function);
    const appSel = el(
      "select",
      { id: "filter-app", name: "app", onchange: onFilter },
      el("option", { value: "", text: "All apps" }),
    );
    setFunctionOptions(appSel, [], filters.app);
    const fromInput = el("input", { id: "filter-from", name: "from", type: "datetime-local" });
    fromInput.value = isoToLocal(filters.from);
    const toInput = el("input", { id: "filter-to", name: "to", type: "datetime-local" });
    toInput.value = isoToLocal(filters.to);
    const eventInput = el("input", {
      id: "filter-event", name: "event_id", type: "text", placeholder: "event id", autocomplete: "off",
      spellcheck: "false", class: "mono",
    });
    eventInput.value = filters.event_id;
    const queryInput = el("input", {
      id: "filter-query", name: "query", type: "text", autocomplete: "off", spellcheck: "false",
      class: "mono query-input", placeholder: 'event.data.plan == "pro"',
    });
    queryInput.value = filters.query;
    const searchForm = el("form", { id: "run-search", class: "search-form", onsubmit: submitTo(onFilter) },
      el("label", {}, "From ", fromInput),
      el("label", {}, "To ", toInput),
      el("label", {}, "Event ", eventInput),
      el("label", { class: "query-field" }, "Query ", queryInput),
      el("button", { type: "submit" }, "Search"),
    );
    const problem = el("div", { id: "search-error", class: "search-error", role: "alert", hidden: true });
    const paging = pager(() => refresh());
    const count = el("span", { class: "muted count" });
    const region = el("div", { class: "region" });
    const bulk = bulkActions();
    const root = el(
      "section",
      { class: "page page-runs" },
      el("div", { class: "page-head" },
        el("h1", { text: "Runs" }),
        el("div", { class: "filters" },
          el("label", {}, "Status ", statusSel),
          el("label", {}, "Function ", fnSel),
          el("label", {}, "App ", appSel),
          count,
        ),
      ),
      searchForm,
      problem,
      bulk.bar,
      region,
      paging.root,
    );

    function onFilter() {
      filters.status = statusSel.value;
      filters.function = fnSel.value;
      filters.app = appSel.value;
      filters.from = localToIso(fromInput.value);
      filters.to = localToIso(toInput.value);
      filters.event_id = eventInput.value.trim();
      filters.query = queryInput.value.trim();
      filtersChanged("#/runs", filters, paging, refresh);
    }

    async function load() {
      const [found, fns, apps] = await Promise.all([
        searchOrError("/runs" + query(Object.assign({}, filters, { cursor: paging.state.cursor, limit: "50" }))),
        api("/functions"),
        api("/apps"),
      ]);
      return { found, functions: fns.data || [], apps: apps.data || [] };
    }

    function render(data) {
      setFunctionOptions(fnSel, data.functions.map((f) => f.id), fnSel.value);
      setFunctionOptions(appSel, data.apps.map((a) => a.name).filter(Boolean), appSel.value);
      searchError(problem, data.found.error);
      const page = data.found.page || { data: [], next_cursor: null, partial: false };
      const runs = page.data || [];
      count.textContent = runs.length + (runs.length === 1 ? " run" : " runs");
      paging.update(page.next_cursor, page.partial ? "searched part of the runs: more may match, older" : "");
      const rows = runs.map((r) =>
        el(
          "tr",
          { class: "run-row", dataset: { runId: r.run_id, status: r.status } },
          bulk.cell(r),
          el("td", {}, badge(r.status)),
          el("td", {},
            el("div", { class: "fn-name", text: r.function_name || r.function_id }),
            el("div", { class: "muted small mono", text: r.function_id }),
          ),
          el("td", { class: "mono small", text: r.event_name || "—" }),
          el("td", { title: fullTime(r.started_at), text: fmtTime(r.started_at) }),
          el("td", { class: "num" }, runDuration(r.started_at, r.ended_at)),
          el("td", { class: "mono small" }, runLink(r.run_id, r.run_id, r.status)),
        ),
      );
      const filtered = RUN_FILTERS.some((k) => filters[k]);
      swap(region, [
        table([bulk.headerCell(), "Status", "Function", "Event", "Started", "Duration", "Run"], rows,
          filtered ? "No run matches the filters." :
            "No runs yet. Send an event from the Events page."),
      ]);
      bulk.shown(runs);
    }

    return { root, load, render };
  };

  // Keep the function filter's options in step with the functions known, never dropping the
  // current choice (a filtered slug stays selectable even before its app is synced).
  function setFunctionOptions(select, slugs, selected) {
    const wanted = Array.from(new Set([...slugs, ...(selected ? [selected] : [])])).sort();
    const have = Array.from(select.options).slice(1).map((o) => o.value);
    if (have.join("\n") !== wanted.join("\n")) {
      while (select.options.length > 1) select.remove(1);
      for (const slug of wanted) select.appendChild(el("option", { value: slug, text: slug }));
    }
    select.value = selected || "";
  }

  // Run: status, actions, trigger events, output or error, and the step timeline.
  pages.run = (route) => {
    const runId = route.runId;
    const statusEl = el("span", { id: "run-status", class: "badge" });
    const actionMsg = el("span", { class: "action-msg muted" });
    const cancelBtn = el("button", { id: "cancel-run", type: "button", disabled: true, onclick: onCancel },
      "Cancel");
    const rerunBtn = el("button", { id: "rerun-run", type: "button", disabled: true, onclick: onRerun },
      "Rerun");
    const title = el("h1", {}, "Run ", el("span", { class: "mono", text: runId }));
    const region = el("div", { class: "region" });
    const root = el(
      "section",
      { class: "page page-run" },
      el("div", { class: "crumbs" }, el("a", { href: "#/runs", text: "← Runs" })),
      el("div", { class: "page-head" },
        title,
        el("div", { class: "actions" }, statusEl, cancelBtn, rerunBtn, actionMsg),
      ),
      region,
    );
    let status = null;

    async function onCancel() {
      cancelBtn.disabled = true;
      actionMsg.textContent = "Cancelling…";
      try {
        await api("/runs/" + encodeURIComponent(runId) + "/cancel", { body: {} });
        actionMsg.textContent = "Cancel requested.";
      } catch (err) {
        actionMsg.textContent = "Cancel failed: " + err.message;
      }
      refresh();
    }

    async function onRerun() {
      rerunBtn.disabled = true;
      actionMsg.textContent = "Starting a new run…";
      try {
        const res = await api("/runs/" + encodeURIComponent(runId) + "/rerun", { body: {} });
        location.hash = runHref(res.run_id);
      } catch (err) {
        actionMsg.textContent = "Rerun failed: " + err.message;
        rerunBtn.disabled = false;
      }
    }

    async function load() {
      try {
        return (await api("/runs/" + encodeURIComponent(runId))).data;
      } catch (err) {
        if (err.status === 404) return null;
        throw err;
      }
    }

    function render(run) {
      if (!run) {
        status = null;
        statusEl.textContent = "Not found";
        statusEl.className = "badge status-unknown";
        cancelBtn.disabled = true;
        rerunBtn.disabled = true;
        swap(region, [el("p", { class: "notice", text: "No run with this id (yet)." })]);
        return;
      }
      status = run.status;
      statusEl.textContent = run.status;
      statusEl.className = "badge status-" + String(run.status).toLowerCase();
      cancelBtn.disabled = run.status !== "Running" && run.status !== "Queued";
      rerunBtn.disabled = false;
      title.replaceChildren(
        el("span", { text: run.function_name || run.function_id }),
        " ",
        el("span", { class: "muted mono small", text: run.run_id }),
      );
      const facts = el("dl", { class: "facts" },
        el("dt", { text: "Function" }),
        el("dd", {}, el("a", {
          href: "#/runs" + query({ function: run.function_id }),
          class: "mono",
          text: run.function_id,
        })),
        el("dt", { text: "Started" }),
        el("dd", { title: fullTime(run.started_at), text: fmtTime(run.started_at, true) }),
        el("dt", { text: "Ended" }),
        el("dd", { title: fullTime(run.ended_at), text: fmtTime(run.ended_at, true) }),
        el("dt", { text: "Duration" }),
        el("dd", {}, runDuration(run.started_at, run.ended_at)),
      );
      swap(region, [
        runLinks(run),
        delayList(run),
        el("div", { class: "run-grid" },
          el("div", { class: "run-side" },
            el("div", { class: "card" }, el("h2", { text: "Details" }), facts),
            el("div", { class: "card" },
              el("h2", { text: run.events && run.events.length > 1 ? "Trigger events" : "Trigger event" }),
              triggerEvents(run.events || []),
            ),
          ),
          el("div", { class: "card" }, el("h2", { text: "Result" }), resultBlock(run)),
        ),
        el("div", { class: "card" },
          el("h2", { text: "Trace" }),
          traceView(run),
        ),
        el("div", { class: "card" },
          el("h2", { text: "Timeline" }),
          timeline(run.timeline || [], run.started_at, (stepId, button) => rerunFrom(stepId, button)),
        ),
      ]);
    }

    // "Rerun from here": a new run that keeps the memos saved before this step.
    async function rerunFrom(stepId, button) {
      button.disabled = true;
      actionMsg.textContent = "Starting a new run from this step…";
      try {
        const res = await api("/runs/" + encodeURIComponent(runId) + "/rerun", { body: { from_step: stepId } });
        location.hash = runHref(res.run_id);
      } catch (err) {
        actionMsg.textContent = "Rerun failed: " + err.message;
        button.disabled = false;
      }
    }

    return { root, load, render };
  };

  function resultBlock(run) {
    if (run.error) return el("div", { id: "run-error" }, errorBlock(run.error));
    if (run.status === "Queued") return el("p", { class: "muted", text: "Queued: not started yet." });
    if (run.status === "Running") return el("p", { class: "muted", text: "Still running; no output yet." });
    if (run.status === "Cancelled" && (run.output === null || run.output === undefined)) {
      return el("p", { class: "muted", text: "Cancelled; no output." });
    }
    return el("pre", { id: "run-output", class: "json", "data-key": "run-output", text: json(run.output) });
  }

  function triggerEvents(events) {
    if (!events.length) return el("p", { class: "muted", text: "No trigger event recorded." });
    return el("ul", { class: "trigger-events" }, events.map((ev, i) =>
      el("li", {},
        el("div", {},
          el("span", { class: "event-name mono", text: ev.name || "(no name)" }),
          " ",
          el("span", { class: "muted small mono", text: ev.id || "" }),
          ev.ts ? el("span", { class: "muted small", text: " · " + fmtTime(eventTs(ev.ts), true) }) : null,
        ),
        el("pre", { class: "json", "data-key": "trigger-" + i, text: json(ev.data) }),
      ),
    ));
  }

  function timeline(items, runStart, onRerunFrom) {
    if (!items.length) return el("ol", { id: "timeline", class: "timeline" },
      el("li", { class: "muted empty-timeline", text: "No steps yet." }));
    return el("ol", { id: "timeline", class: "timeline" },
      items.map((item, i) => timelineItem(item, i, runStart, onRerunFrom)));
  }

  function timelineItem(item, index, runStart, onRerunFrom) {
    const kind = item.kind || "run";
    const key = "step-" + (item.id || index);
    const offset = item.started_at !== null && item.started_at !== undefined && runStart
      ? " (+" + fmtDurationMs((item.started_at - runStart) * 1000) + ")" : "";
    let duration;
    if (item.duration_ms !== null && item.duration_ms !== undefined) duration = fmtDurationMs(item.duration_ms);
    else if (item.ended_at === null || item.ended_at === undefined) {
      // Only a step still going counts up; one that ended without a time has no duration.
      duration = item.started_at && OPEN_STATUSES.has(item.status) ? liveSpan("since", item.started_at) : "—";
    } else duration = runDuration(item.started_at, item.ended_at);

    const head = el("div", { class: "step-head" },
      el("span", { class: "step-icon kind-" + kind, title: KIND_LABELS[kind] || kind }, icon(kind)),
      el("span", { class: "step-name", text: item.name || item.id || "(step)" }),
      el("span", { class: "step-kind muted small", text: KIND_LABELS[kind] || kind }),
      badge(item.status),
      el("span", { class: "step-start muted small", title: fullTime(item.started_at) },
        item.started_at ? fmtTime(item.started_at, true) + offset : ""),
      el("span", { class: "step-duration", text: "" }, duration),
    );

    const body = [];
    if (DEADLINE_KINDS.has(kind) && OPEN_STATUSES.has(item.status)) {
      // A finished sleep, wait or invoke no longer "times out" at anything.
      const label = kind === "sleep" ? "Wakes" : "Times out";
      body.push(el("div", { class: "step-deadline" },
        item.deadline !== null && item.deadline !== undefined
          ? [label + " at ", el("span", { title: fullTime(item.deadline), text: fmtTime(item.deadline) }),
            " (", liveSpan("deadline", item.deadline), ")"]
          : label + ": no deadline",
      ));
    }
    if (item.wait) {
      body.push(el("div", { class: "step-wait small" },
        "Waiting for ", el("code", { text: item.wait.event || "?" }),
        item.wait.if ? [" if ", el("code", { text: item.wait.if })] : null,
      ));
    }
    for (const warning of item.warnings || []) {
      body.push(el("div", { class: "step-warning small", role: "note", text: "Warning: " + warning }));
    }
    if (item.invoke) {
      body.push(el("div", { class: "step-invoke small" },
        "Invokes ", el("code", { text: item.invoke.function_id || "?" }),
        item.child_run_id ? [" · ", el("a", { class: "child-run run-link", href: runHref(item.child_run_id),
          dataset: { runId: item.child_run_id }, text: "child run " + shortId(item.child_run_id) })] : null));
    }
    if (item.reused_from) {
      body.push(el("div", { class: "step-reused small muted" }, "Result reused from run ",
        el("a", { class: "run-link", href: runHref(item.reused_from), dataset: { runId: item.reused_from },
          text: shortId(item.reused_from) }), ": not run again"));
    }
    const rerunnable = kind !== "function" && (item.status === "completed" || item.status === "failed");
    if (onRerunFrom && rerunnable && item.id) {
      const button = el("button", { type: "button", class: "rerun-from", dataset: { stepId: item.id },
        title: "A new run that reuses the results of the steps before this one" }, "Rerun from this step");
      button.addEventListener("click", () => onRerunFrom(item.id, button));
      body.push(el("div", { class: "step-actions" }, button));
    }

    const attempts = item.attempts || [];
    // The API counts attempts from 0 like the executor (ctx.attempt); people count from 1.
    const base = 1;
    if (attempts.length) {
      body.push(el("ol", { class: "attempts" }, attempts.map((a) =>
        el("li", { class: "attempt", dataset: { attempt: a.attempt, status: a.status } },
          el("div", { class: "attempt-head small" },
            el("span", { text: "Attempt " + (Number(a.attempt) + base) }),
            badge(a.status),
            el("span", { class: "muted", title: fullTime(a.started_at), text: fmtTime(a.started_at, true) }),
            el("span", { class: "muted", text: fmtDurationMs(a.duration_ms) }),
          ),
          a.error ? errorBlock(a.error, "step-error") : null,
        ),
      )));
    }
    if (item.error && !attempts.some((a) => a.error)) body.push(errorBlock(item.error, "step-error"));
    if (item.output !== null && item.output !== undefined) {
      body.push(el("details", { class: "step-output", "data-key": key + "-out" },
        el("summary", { text: kind === "wait" ? "Matched event" : "Output" }),
        el("pre", { class: "json", text: json(item.output) })));
    } else if (kind === "wait" && item.status === "completed") {
      body.push(el("div", { class: "muted small", text: "Timed out: no matching event." }));
    }

    return el("li", {
      class: "timeline-item kind-" + kind + " status-" + String(item.status || "").toLowerCase(),
      dataset: { stepName: item.name || item.id || "", kind, status: item.status, stepId: item.id },
    }, head, body.length ? el("div", { class: "step-body" }, body) : null);
  }

  // Events: the send form (built once, so typing survives refreshes) and the live list.
  const eventDraft = { name: "", data: "{}" };

  pages.events = (route) => {
    const nameInput = el("input", {
      name: "name", type: "text", placeholder: "app/user.signed_up", autocomplete: "off",
      spellcheck: "false",
    });
    nameInput.value = eventDraft.name;
    const dataInput = el("textarea", { name: "data", rows: "3", spellcheck: "false", class: "mono" });
    dataInput.value = eventDraft.data;
    const hint = el("span", { class: "json-hint small" });
    const result = el("div", { id: "send-result", role: "status", "aria-live": "polite" });
    const submit = el("button", { type: "submit" }, "Send event");
    const form = el("form", { id: "send-event", class: "card send-form", novalidate: true, onsubmit: onSubmit },
      el("h2", { text: "Send an event" }),
      el("label", { class: "field" }, el("span", { text: "Name" }), nameInput),
      el("label", { class: "field" }, el("span", {}, "Data ", el("span", { class: "muted", text: "(JSON)" })),
        dataInput),
      el("div", { class: "form-foot" }, submit, hint, result),
    );
    nameInput.addEventListener("input", () => { eventDraft.name = nameInput.value; });
    dataInput.addEventListener("input", () => { eventDraft.data = dataInput.value; validate(); });
    validate();

    function validate() {
      const text = dataInput.value.trim();
      if (text === "") {
        hint.textContent = "empty: sends {}";
        hint.className = "json-hint small muted";
        dataInput.removeAttribute("aria-invalid");
        return { ok: true, value: {} };
      }
      try {
        const value = JSON.parse(text);
        hint.textContent = "valid JSON";
        hint.className = "json-hint small ok";
        dataInput.removeAttribute("aria-invalid");
        return { ok: true, value };
      } catch (err) {
        hint.textContent = "invalid JSON";
        hint.className = "json-hint small bad";
        dataInput.setAttribute("aria-invalid", "true");
        return { ok: false, message: err.message };
      }
    }

    function showResult(state, ...content) {
      result.dataset.state = state;
      result.className = "send-result " + state;
      result.replaceChildren(...content);
    }

    async function onSubmit(ev) {
      ev.preventDefault();
      const parsed = validate();
      if (!parsed.ok) {
        showResult("error", "Invalid JSON in data: " + parsed.message);
        return;
      }
      // Name and shape checks are left to the API, so its error message is what is shown.
      submit.disabled = true;
      showResult("pending", "Sending…");
      try {
        const res = await api("/events", { body: { name: nameInput.value.trim(), data: parsed.value } });
        const ids = (res && res.ids) || [];
        showResult("ok", ids.length === 1 ? "Sent: " : "Sent " + ids.length + " events: ",
          el("code", { class: "sent-id", text: ids.join(", ") }));
        result.dataset.eventIds = ids.join(",");
      } catch (err) {
        showResult("error", "Error: " + err.message);
      } finally {
        submit.disabled = false;
      }
      refresh();
    }

    // The list: filters by name and time, Inngest's own events hidden unless asked, paged. The
    // filters are mirrored in the hash query (#/events?name=...&internal=1), as the runs' are.
    const filters = {};
    for (const k of ["name", "from", "to", "internal"]) filters[k] = route.params.get(k) || "";
    const nameFilter = el("input", {
      id: "filter-event-name", name: "name", type: "text", placeholder: "event name", autocomplete: "off",
      spellcheck: "false", class: "mono",
    });
    const fromInput = el("input", { id: "events-from", name: "from", type: "datetime-local" });
    const toInput = el("input", { id: "events-to", name: "to", type: "datetime-local" });
    nameFilter.value = filters.name;
    fromInput.value = isoToLocal(filters.from);
    toInput.value = isoToLocal(filters.to);
    const internalBox = el("input", { id: "show-internal", name: "internal", type: "checkbox", onchange: onFilter });
    internalBox.checked = filters.internal === "1";
    const filterForm = el("form", { id: "event-search", class: "search-form", onsubmit: submitTo(onFilter) },
      el("label", {}, "Name ", nameFilter),
      el("label", {}, "From ", fromInput),
      el("label", {}, "To ", toInput),
      el("label", {}, internalBox, " Show internal events"),
      el("button", { type: "submit" }, "Search"),
    );
    const problem = el("div", { id: "search-error", class: "search-error", role: "alert", hidden: true });
    const paging = pager(() => refresh());
    const region = el("div", { class: "region" });
    const root = el("section", { class: "page page-events" },
      form,
      el("div", { class: "page-head" }, el("h1", { text: "Events" }),
        el("span", { class: "muted small", text: "newest first" })),
      filterForm,
      problem,
      region,
      paging.root,
    );

    function onFilter() {
      filters.name = nameFilter.value.trim();
      filters.from = localToIso(fromInput.value);
      filters.to = localToIso(toInput.value);
      filters.internal = internalBox.checked ? "1" : "";
      filtersChanged("#/events", filters, paging, refresh);
    }

    async function load() {
      return searchOrError("/events" + query(Object.assign({}, filters, { cursor: paging.state.cursor, limit: "50" })));
    }

    function render(found) {
      searchError(problem, found.error);
      const page = found.page || { data: [], next_cursor: null };
      paging.update(page.next_cursor, "");
      const rows = (page.data || []).map((ev) =>
        el("tr", { class: "event-row" + (ev.internal ? " internal" : ""), dataset: { eventId: ev.id, internalId: ev.internal_id } },
          el("td", {},
            el("a", { class: "mono event-name", href: eventHref(ev.internal_id), text: ev.name }),
            el("div", { class: "muted small mono", text: ev.id }),
          ),
          el("td", { title: fullTime(ev.received_at) }, fmtTime(ev.received_at)),
          el("td", { class: "payload" },
            el("pre", { class: "event-data json", "data-key": "ev-" + ev.internal_id, text: json(ev.data) })),
          el("td", { class: "runs-cell" }, eventRuns(ev.runs)),
        ),
      );
      const filtered = filters.name || filters.from || filters.to;
      swap(region, [table(["Event", "Received", "Data", "Runs"], rows,
        filtered ? "No event matches the filters." : "No events yet.")]);
    }

    return { root, load, render };
  };

  function eventHref(internalId) {
    return "#/events/" + encodeURIComponent(internalId);
  }

  function eventRuns(runs) {
    return (runs || []).length
      ? el("ul", { class: "run-links" }, runs.map((r) =>
        el("li", {}, runLink(r.run_id, r.function_id, r.status), " ", badge(r.status))))
      : el("span", { class: "muted", text: "no runs" });
  }

  // Event: its whole payload, the runs it started and the waits it resumed.
  pages.event = (route) => {
    const region = el("div", { class: "region" });
    const root = el("section", { class: "page page-event" },
      el("div", { class: "crumbs" }, el("a", { href: "#/events", text: "← Events" })),
      region,
    );

    async function load() {
      return (await api("/events/" + encodeURIComponent(route.eventId))).data;
    }

    function render(ev) {
      const resumed = (ev.resumed || []).map((w) =>
        el("li", { class: "resumed-wait", dataset: { runId: w.run_id } },
          runLink(w.run_id, w.function_id || w.run_id, w.status), " ",
          el("span", { class: "muted", text: "step " }), el("b", { text: w.step_name }), " ",
          w.status ? badge(w.status) : null));
      swap(region, [
        el("div", { class: "page-head" },
          el("h1", { class: "mono", id: "event-name", text: ev.name }),
          ev.internal ? el("span", { class: "muted small", text: "internal event" }) : null),
        el("p", { class: "muted small" },
          "id ", el("code", { id: "event-id", text: ev.id }),
          " · received ", el("span", { title: fullTime(ev.received_at), text: fmtTime(ev.received_at) })),
        el("div", { class: "card" }, el("h2", { text: "Payload" }),
          ev.unreadable ? el("p", { class: "muted", text: "Stored event unreadable: " + ev.unreadable }) : null,
          el("pre", { id: "event-payload", class: "json", "data-key": "payload", text: json(ev.event) })),
        el("div", { class: "card" }, el("h2", { text: "Runs it started" }),
          el("div", { id: "event-runs" }, eventRuns(ev.runs))),
        el("div", { class: "card" }, el("h2", { text: "Waits it resumed" }),
          resumed.length ? el("ul", { id: "event-resumed", class: "run-links" }, resumed)
            : el("span", { id: "event-resumed", class: "muted", text: "none" })),
      ]);
    }

    return { root, load, render };
  };

  // Functions: triggers and flow-control configuration as synced.
  pages.functions = () => {
    const region = el("div", { class: "region" });
    const invoker = invokeForm();
    const root = el("section", { class: "page page-functions" },
      invoker.form,
      el("div", { class: "page-head" }, el("h1", { text: "Functions" })), region);

    async function load() {
      return (await api("/functions")).data || [];
    }

    function render(fns) {
      invoker.setFunctions(fns);
      const rows = fns.map((f) => {
        const invoke = el("button", { type: "button", class: "invoke-fn", dataset: { functionId: f.id } }, "Invoke…");
        invoke.addEventListener("click", () => invoker.choose(f.id));
        return el("tr", { class: "function-row", dataset: { functionId: f.id } },
          el("td", {},
            el("div", { class: "fn-name", text: f.name || f.id }),
            el("div", { class: "muted small mono", text: f.id }),
            el("div", { class: "row-actions" },
              el("a", { class: "small", href: "#/runs" + query({ function: f.id }), text: "runs →" }),
              invoke),
          ),
          el("td", { class: "small", text: f.app || "—" }),
          el("td", {}, triggerList(f.triggers || []), cronTicks(f.next_ticks || [])),
          el("td", {}, flowList(f)),
        );
      });
      swap(region, [table(["Function", "App", "Triggers", "Flow control"], rows,
        "No functions. Sync an app from the Apps page.")]);
    }

    return { root, load, render };
  };

  function triggerList(triggers) {
    return el("ul", { class: "triggers" }, triggers.map((t) => {
      if (t && t.event) {
        return el("li", {}, el("span", { class: "tag", text: "event" }), " ", el("code", { text: t.event }),
          t.expression ? [" if ", el("code", { text: t.expression })] : null);
      }
      if (t && t.cron) return el("li", {}, el("span", { class: "tag", text: "cron" }), " ", el("code", { text: t.cron }));
      return el("li", {}, el("code", { text: JSON.stringify(t) }));
    }));
  }

  // Apps: URL, sync state and error, and a re-sync button per app.
  const resyncResults = new Map(); // app url -> message, kept across refreshes

  pages.apps = () => {
    const region = el("div", { class: "region" });
    const root = el("section", { class: "page page-apps" },
      el("div", { class: "page-head" }, el("h1", { text: "Apps" })), region);

    async function resync(url, button) {
      button.disabled = true;
      resyncResults.set(url, { state: "pending", text: "Syncing…" });
      render(lastApps);
      try {
        const res = await api("/apps/resync", { body: { url } });
        // A Connect app cannot be asked to sync: the server says what happens instead.
        resyncResults.set(url, res.state === "synced" ? { state: "ok", text: "Synced." }
          : res.state === "connect" ? { state: "info", text: res.message }
            : { state: "error", text: "Sync failed" + (res.error ? ": " + res.error : ".") });
      } catch (err) {
        resyncResults.set(url, { state: "error", text: "Sync failed: " + err.message });
      }
      refresh();
    }

    let lastApps = [];

    async function removeApp(app, button) {
      if (!window.confirm("Remove " + appTitle(app) + "? Its functions go; its runs stay listed.")) return;
      button.disabled = true;
      try {
        await api("/apps/remove", { body: { url: app.url } });
        resyncResults.delete(app.url);
      } catch (err) {
        resyncResults.set(app.url, { state: "error", text: "Remove failed: " + err.message });
        button.disabled = false;
      }
      refresh();
    }

    async function load() {
      return (await api("/apps")).data || [];
    }

    function render(apps) {
      lastApps = apps;
      const rows = apps.map((a) => {
        const note = resyncResults.get(a.url);
        const button = el("button", { type: "button", class: "resync" }, "Re-sync");
        button.addEventListener("click", () => resync(a.url, button));
        if (note && note.state === "pending") button.disabled = true;
        const remove = el("button", { type: "button", class: "remove-app danger",
          title: "Forget this app and its functions (its runs stay listed)" }, "Remove");
        remove.addEventListener("click", () => removeApp(a, remove));
        return el("tr", { class: "app-row", dataset: { appUrl: a.url, status: a.status, kind: a.kind } },
          el("td", {},
            el("div", { class: "fn-name", text: appTitle(a) }),
            el("div", { class: "muted small mono", text: a.url }),
            a.kind === "connect" ? el("a", { class: "small", href: "#/workers",
              text: (a.workers || 0) + (a.workers === 1 ? " worker connected" : " workers connected") }) : null,
          ),
          el("td", { class: "small" }, [a.sdk, a.framework].filter(Boolean).join(" · ") || "—"),
          el("td", {},
            badge(a.status),
            a.error ? el("div", { class: "app-error", text: a.error }) : null,
          ),
          el("td", { title: fullTime(a.synced_at), text: fmtTime(a.synced_at) }),
          el("td", { class: "num", text: a.functions === undefined ? "—" : a.functions }),
          el("td", {}, el("div", { class: "row-actions" }, button, remove),
            note ? el("div", { class: "resync-result small " + note.state, text: note.text }) : null),
        );
      });
      swap(region, [table(["App", "SDK", "Sync status", "Synced", "Functions", ""], rows,
        "No apps. Start the dev server with -u <your app URL>.")]);
    }

    return { root, load, render };
  };

  // ---------------------------------------------------------------- actions, links, trace, workers
  //
  // Kept apart from the page factories above, which call into them.

  // The runs list's selection and its bulk Cancel / Rerun. The selection survives refreshes;
  // runs no longer listed (another filter, another page) leave it.
  function bulkActions() {
    const selected = new Set();
    let shownIds = [];
    const result = el("span", { id: "bulk-result", class: "bulk-result", role: "status", "aria-live": "polite" });
    const cancelBtn = el("button", { id: "bulk-cancel", type: "button", class: "danger", disabled: true },
      "Cancel selected");
    const rerunBtn = el("button", { id: "bulk-rerun", type: "button", disabled: true }, "Rerun selected");
    const selectAll = el("input", { id: "select-all", type: "checkbox", "aria-label": "Select every run shown" });
    const bar = el("div", { class: "bulk-bar" }, cancelBtn, rerunBtn, result);
    cancelBtn.addEventListener("click", () => act("cancel", "cancelled"));
    rerunBtn.addEventListener("click", () => act("rerun", "rerun"));
    selectAll.addEventListener("change", () => {
      for (const id of shownIds) {
        if (selectAll.checked) selected.add(id);
        else selected.delete(id);
      }
      for (const box of document.querySelectorAll("input.select-run")) box.checked = selectAll.checked;
      update();
    });

    function update() {
      const n = selected.size;
      cancelBtn.textContent = n ? "Cancel " + n + " selected" : "Cancel selected";
      rerunBtn.textContent = n ? "Rerun " + n + " selected" : "Rerun selected";
      cancelBtn.disabled = rerunBtn.disabled = n === 0;
      selectAll.checked = shownIds.length > 0 && shownIds.every((id) => selected.has(id));
    }

    async function act(action, doneWord) {
      const ids = Array.from(selected);
      if (action === "cancel" && !window.confirm("Cancel " + ids.length + " run(s)?")) return;
      cancelBtn.disabled = rerunBtn.disabled = true;
      result.textContent = "Working…";
      try {
        const res = await api("/runs/" + action, { body: { run_ids: ids } });
        const counts = new Map();
        for (const r of res.data || []) counts.set(r.result, (counts.get(r.result) || 0) + 1);
        result.textContent = Array.from(counts, ([what, n]) => n + " " + what).join(", ") || "nothing to do";
        result.dataset.done = String(counts.get(doneWord) || 0);
        selected.clear();
      } catch (err) {
        result.textContent = "Failed: " + err.message;
      }
      update();
      refresh();
    }

    return {
      bar,
      headerCell: () => el("th", { class: "select" }, selectAll),
      cell(run) {
        const box = el("input", { type: "checkbox", class: "select-run", dataset: { runId: run.run_id },
          "aria-label": "Select run " + run.run_id });
        box.checked = selected.has(run.run_id);
        box.addEventListener("change", () => {
          if (box.checked) selected.add(run.run_id);
          else selected.delete(run.run_id);
          update();
        });
        return el("td", { class: "select" }, box);
      },
      shown(runs) {
        shownIds = runs.map((r) => r.run_id);
        const keep = new Set(shownIds);
        for (const id of Array.from(selected)) if (!keep.has(id)) selected.delete(id);
        update();
      },
    };
  }

  // How this run relates to others: the run it reruns, its reruns, who invoked it, its events.
  function runLinks(run) {
    const parts = [];
    if (run.rerun_of) {
      const from = run.rerun_from_step
        ? (run.timeline || []).find((i) => i.id === run.rerun_from_step) : null;
      parts.push(el("span", {}, "Rerun of ", el("a", { class: "rerun-of run-link", href: runHref(run.rerun_of),
        dataset: { runId: run.rerun_of }, text: shortId(run.rerun_of) }),
      run.rerun_from_step ? " from step " + (from ? from.name : shortId(run.rerun_from_step)) : null));
    }
    if ((run.reruns || []).length) {
      parts.push(el("span", {}, "Rerun as ", run.reruns.map((id, i) => [i ? ", " : null,
        el("a", { class: "rerun run-link", href: runHref(id), dataset: { runId: id }, text: shortId(id) })])));
    }
    if (run.invoked_by) {
      parts.push(run.invoked_by.run_id
        ? el("span", {}, "Invoked by ", el("a", { class: "invoked-by run-link", href: runHref(run.invoked_by.run_id),
          dataset: { runId: run.invoked_by.run_id }, text: shortId(run.invoked_by.run_id) }))
        : el("span", { class: "invoked-by", text: "Invoked from the UI or the API" }));
    }
    (run.events || []).forEach((ev, i) => {
      const internal = (run.event_internal_ids || [])[i];
      // The event's own page (#/events/<internal id>); the events list where there is none.
      const href = internal ? "#/events/" + encodeURIComponent(internal) : "#/events";
      parts.push(el("span", {}, "Event ", el("a", { class: "event-link mono", href,
        dataset: { eventId: ev.id, internalId: internal }, text: ev.name || ev.id })));
    });
    return el("div", { id: "run-links", class: "links" }, parts);
  }

  const DELAY_TEXT = {
    throttle: "Throttled by its function's throttle",
    concurrency: "Waited for a concurrency slot",
    debounce: "Debounced (started once its events stopped coming)",
  };

  // Why the run waited: each flow-control hold, how long, and until when.
  function delayList(run) {
    const delays = run.delays || [];
    if (!delays.length) return null;
    return el("ul", { id: "run-delays", class: "delays" }, delays.map((d) => {
      const what = DELAY_TEXT[d.reason] || d.reason;
      let how;
      if (d.until === null || d.until === undefined) how = [" for ", liveSpan("since", d.since), " (still waiting)"];
      else if (d.until > nowSec()) {
        // A throttle decides at once when the run may start: it is still ahead.
        how = [" until ", el("span", { title: fullTime(d.until), text: fmtTime(d.until) }), " (",
          liveSpan("deadline", d.until), ", ", el("b", { text: fmtDurationMs(d.seconds * 1000) }), " in all)"];
      } else {
        how = [" for ", el("b", { text: fmtDurationMs(d.seconds * 1000) }),
          el("span", { class: "muted", title: fullTime(d.until), text: " (until " + fmtTime(d.until) + ")" })];
      }
      return el("li", { class: "delay", dataset: { reason: d.reason } }, what, how);
    }));
  }

  // The trace: a Gantt of the run's steps, waits and flow-control holds along its time, in
  // plain elements positioned by percentage (no canvas, no library).
  function traceView(run) {
    const now = nowSec();
    const start = Math.min(run.started_at || now, ...(run.delays || []).map((d) => d.since));
    // A run still held back by a throttle: its axis reaches the time it may start.
    const end = Math.max(run.ended_at || now, start + 0.001, ...(run.delays || []).map((d) => d.until || 0));
    const rows = [];
    for (const d of run.delays || []) {
      rows.push({ label: d.reason, kind: "delay", status: "delay", from: d.since, to: d.until || end,
        title: (DELAY_TEXT[d.reason] || d.reason) });
    }
    for (const item of run.timeline || []) {
      if (item.started_at === null || item.started_at === undefined) continue;
      const to = item.ended_at || (OPEN_STATUSES.has(item.status) ? end : item.started_at);
      // A step tried more than once: each attempt is its own segment, failures in red, and
      // the gaps between them are the retry backoff.
      const attempts = (item.attempts || []).length > 1 ? item.attempts.filter((a) => a.started_at) : [];
      rows.push({ label: item.name || item.id, kind: item.kind, status: item.status, from: item.started_at, to,
        attempts, title: (KIND_LABELS[item.kind] || item.kind) + ", " + item.status
          + (attempts.length ? ", " + attempts.length + " attempts" : "") });
    }
    if (!rows.length) return el("p", { id: "trace", class: "muted", text: "Nothing to trace yet." });
    const span = end - start;
    const pct = (t) => Math.min(100, Math.max(0, ((t - start) / span) * 100));
    const axis = el("div", { class: "trace-axis", "aria-hidden": "true" }, el("span"),
      el("div", { class: "ticks-line" }, [0, 0.5, 1].map((f) =>
        el("span", { style: "left:" + f * 100 + "%", text: "+" + fmtDurationMs(span * f * 1000) }))));
    return el("div", { id: "trace", class: "trace", role: "list", "aria-label": "Trace of the run" }, axis,
      rows.map((r) => {
        const left = pct(r.from);
        const width = Math.max(pct(r.to) - left, 0);
        const text = r.label + ": " + r.title + ", +" + fmtDurationMs((r.from - start) * 1000) + " for "
          + fmtDurationMs((r.to - r.from) * 1000);
        return el("div", { class: "trace-row", role: "listitem", tabindex: "0", "aria-label": text, title: text,
          dataset: { stepName: r.label, kind: r.kind, status: r.status } },
        el("span", { class: "trace-label", text: r.label }),
        el("div", { class: "trace-track" },
          el("span", { class: "trace-bar kind-" + r.kind + " status-" + r.status + (r.attempts && r.attempts.length ? " has-attempts" : ""),
            style: "left:" + left.toFixed(2) + "%;width:" + width.toFixed(2) + "%" }),
          (r.attempts || []).map((a) => {
            const aLeft = pct(a.started_at);
            const aWidth = Math.max(pct(a.ended_at || end) - aLeft, 0);
            return el("span", { class: "trace-attempt status-" + a.status, dataset: { attempt: a.attempt },
              style: "left:" + aLeft.toFixed(2) + "%;width:" + aWidth.toFixed(2) + "%" });
          })));
      }));
  }

  // Invoke a function with a payload: a form built once per visit (so typing survives
  // refreshes); each function's "Invoke…" button picks it here.
  const invokeDraft = { functionId: "", data: "{}" };

  function invokeForm() {
    const select = el("select", { id: "invoke-function", name: "function" });
    const data = el("textarea", { id: "invoke-data", name: "data", rows: "3", spellcheck: "false", class: "mono" });
    data.value = invokeDraft.data;
    const result = el("div", { id: "invoke-result", role: "status", "aria-live": "polite" });
    const submit = el("button", { type: "submit" }, "Invoke");
    const form = el("form", { id: "invoke-form", class: "card send-form", novalidate: true },
      el("h2", { text: "Invoke a function" }),
      el("label", { class: "field" }, el("span", { text: "Function" }), select),
      el("label", { class: "field" }, el("span", {}, "Data ", el("span", { class: "muted", text: "(JSON)" })), data),
      el("div", { class: "form-foot" }, submit, result));
    select.addEventListener("change", () => { invokeDraft.functionId = select.value; });
    data.addEventListener("input", () => { invokeDraft.data = data.value; });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      let payload = {};
      try {
        payload = data.value.trim() ? JSON.parse(data.value) : {};
      } catch (err) {
        result.textContent = "Invalid JSON in data: " + err.message;
        result.className = "send-result error";
        return;
      }
      submit.disabled = true;
      result.textContent = "Invoking…";
      try {
        const res = await api("/functions/" + encodeURIComponent(select.value) + "/invoke", { body: { data: payload } });
        location.hash = runHref(res.run_id);
      } catch (err) {
        result.textContent = "Error: " + err.message;
        result.className = "send-result error";
      } finally {
        submit.disabled = false;
      }
    });
    return {
      form,
      setFunctions(fns) {
        const ids = fns.map((f) => f.id);
        const have = Array.from(select.options).map((o) => o.value);
        if (have.join("\n") !== ids.join("\n")) {
          select.replaceChildren(...fns.map((f) => el("option", { value: f.id, text: f.name ? f.name + " (" + f.id + ")" : f.id })));
        }
        if (invokeDraft.functionId && ids.includes(invokeDraft.functionId)) select.value = invokeDraft.functionId;
      },
      choose(functionId) {
        invokeDraft.functionId = functionId;
        select.value = functionId;
        form.scrollIntoView({ block: "nearest" });
        data.focus();
      },
    };
  }

  // Flow control in words (the server describes it); the synced JSON is in each line's title.
  function flowList(fn) {
    const flow = fn.flow || [];
    if (!flow.length) return el("span", { class: "muted", text: "defaults" });
    return el("dl", { class: "flow" }, flow.map((f) => [
      el("dt", { text: f.label }),
      el("dd", { dataset: { setting: f.setting }, title: JSON.stringify((fn.config || {})[f.setting]), text: f.text }),
    ]));
  }

  function cronTicks(ticks) {
    if (!ticks.length) return null;
    return el("ul", { class: "ticks" }, ticks.map((t, i) =>
      el("li", { class: "tick", title: fullTime(t) }, (i ? "then " : "Next: ") + fmtTime(t) + " (",
        liveSpan("deadline", t), ")")));
  }

  // An app that never synced has no name yet: say where it is and why.
  function appTitle(app) {
    if (app.name) return app.name;
    let where = app.url;
    try {
      where = new URL(app.url).host || app.url;
    } catch (_err) {
      where = app.url;
    }
    return where + (app.status === "unreachable" ? " (unreachable, never synced)" : " (never synced)");
  }

  // Workers: the Connect gateway's connections.
  pages.workers = () => {
    const region = el("div", { class: "region" });
    const gateway = el("span", { class: "muted small mono" });
    const root = el("section", { class: "page page-workers" },
      el("div", { class: "page-head" }, el("h1", { text: "Connect workers" }), gateway), region);

    async function load() {
      return await api("/workers");
    }

    function render(res) {
      gateway.textContent = res.gateway ? "gateway " + res.gateway : "no gateway";
      const rows = (res.data || []).map((w) => {
        const age = w.heartbeat_age;
        const cap = w.max_worker_concurrency;
        return el("tr", { class: "worker-row", dataset: { connectionId: w.id, state: w.state } },
          el("td", {},
            el("div", { class: "mono small", text: w.instance_id || "—" }),
            el("div", { class: "muted small mono", text: w.id })),
          el("td", {}, el("ul", { class: "triggers" }, (w.apps || []).map((name) => el("li", { text: name })))),
          el("td", { class: "small", text: w.sdk || "—" }),
          el("td", {}, badge(w.state)),
          el("td", { class: "num", text: w.in_flight + " / " + (cap === null || cap === undefined ? "∞" : cap) }),
          el("td", { class: "small", title: w.connected_at, text: w.connected_at ? fmtTime(Date.parse(w.connected_at) / 1000) : "—" }),
          el("td", { class: "num" + (age > 30 ? " heartbeat-stale" : ""),
            text: age === null || age === undefined ? "—" : fmtSpan(age) + " ago" }),
        );
      });
      swap(region, [table(["Instance", "Apps", "SDK", "State", "In flight / capacity", "Connected", "Last heartbeat"],
        rows, "No Connect worker is connected.")]);
    }

    // Heartbeats and in-flight counts change without a version bump: reload every tick.
    return { root, load, render, everyTick: true };
  };

  // ---------------------------------------------------------------- controller

  const main = () => document.getElementById("main");
  let view = null; // {route, page, root, load, render, renderedVersion}
  let seq = 0; // bumps with every refresh; a refresh whose number is stale is dropped
  let pending = 0;
  let lastKnownVersion = null;

  function navigate() {
    const route = parseRoute();
    const made = pages[route.page](route);
    view = Object.assign({ route, renderedVersion: null }, made);
    delete document.body.dataset.page;
    delete document.body.dataset.version;
    for (const a of document.querySelectorAll("nav a")) {
      const target = a.getAttribute("href").slice(2);
      const active = target === route.page || (target === "runs" && route.page === "run") ||
        (target === "events" && route.page === "event");
      a.classList.toggle("active", active);
      if (active) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    main().replaceChildren(view.root);
    window.scrollTo(0, 0);
    refresh();
  }

  async function fetchVersion() {
    const res = await api("/version");
    lastKnownVersion = res.version;
    return res.version;
  }

  async function refresh() {
    const mine = ++seq;
    const target = view;
    pending += 1;
    try {
      // The version is read before the data, so the data is at least as new as the version
      // written to body[data-version].
      const version = await fetchVersion();
      const data = await target.load();
      if (mine !== seq || target !== view) return;
      target.render(data);
      target.renderedVersion = version;
      showLoadError(null);
      document.body.dataset.page = target.route.page;
      document.body.dataset.version = String(version);
      setLive(true);
    } catch (err) {
      if (mine !== seq || target !== view) return;
      showLoadError(err);
      setLive(err.status !== 0);
    } finally {
      pending -= 1;
    }
  }

  function showLoadError(err) {
    let banner = document.getElementById("load-error");
    if (!err) {
      if (banner) banner.remove();
      return;
    }
    if (!banner) {
      banner = el("div", { id: "load-error", class: "banner", role: "alert" });
      main().prepend(banner);
    }
    banner.textContent = "Could not load this page: " + err.message + " (retrying)";
  }

  function setLive(ok) {
    const live = document.getElementById("live");
    if (!live) return;
    live.textContent = ok ? "live" : "offline";
    live.className = "live " + (ok ? "on" : "off");
    live.title = ok ? "Live updates (version " + lastKnownVersion + ")" : "The dev server does not answer";
  }

  async function tick() {
    for (const span of document.querySelectorAll(".live-time")) updateLive(span);
    if (view && pending === 0) {
      try {
        const version = await fetchVersion();
        setLive(true);
        // A page that shows what changes without a version bump (heartbeats) asks for every tick.
        if (view && pending === 0 && (version !== view.renderedVersion || view.everyTick)) await refresh();
      } catch (err) {
        setLive(false);
      }
    }
    setTimeout(tick, POLL_MS);
  }

  function start() {
    const host = document.getElementById("server-host");
    if (host) host.textContent = location.host;
    window.addEventListener("hashchange", navigate);
    navigate();
    setTimeout(tick, POLL_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
