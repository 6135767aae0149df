// The workspace page: renders the status document (/status) and follows it with a long poll
// (/status?wait=change), at most one request a second, backing off while wsinit is unreachable.
// Every value from the document goes in as text (textContent), never as markup: service names,
// warnings, process names and URLs come from users.
"use strict";

(function () {
  const DASH = "—";
  const MIN_GAP_MS = 1000;      // between the starts of two requests, whatever the answer
  const WAIT = "5s";            // memory and CPU change without a notice: ask again this often
  const ANSWER_LIMIT_MS = 20000;  // a held request is answered within WAIT; past this it is lost
  const MAX_BACKOFF_MS = 30000;

  const byId = (id) => document.getElementById(id);
  const present = (v) => v !== undefined && v !== null && v !== "";
  const isNumber = (v) => typeof v === "number" && isFinite(v);

  function show(v) {
    if (!present(v)) return DASH;
    if (typeof v === "boolean") return v ? "yes" : "no";
    return String(v);
  }

  function duration(s) {
    if (!isNumber(s)) return DASH;
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + m + "m";
    if (m > 0) return m + "m " + sec + "s";
    return sec + "s";
  }

  function bytes(n) {
    if (!isNumber(n)) return DASH;
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i === 0 || n >= 100 ? String(Math.round(n)) : n.toFixed(1).replace(/\.0$/, "")) + " " + units[i];
  }

  // "2025-01-01T12:33:10.000Z" as "2025-01-01 12:33:10 UTC"; anything else as it is.
  function timestamp(t) {
    const m = typeof t === "string" && /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?Z$/.exec(t);
    return m ? m[1] + " " + m[2] + " UTC" : show(t);
  }

  function cpuSeconds(s) {
    return isNumber(s) ? (s < 10 ? s.toFixed(2) : s.toFixed(1)) + " s" : DASH;
  }

  // An element with optional class and text.
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // A URL is a link only when it is http or https; anything else stays text.
  function urlNode(url) {
    if (typeof url === "string" && /^https?:\/\//i.test(url)) {
      const a = el("a", "", url);
      a.href = url;
      a.rel = "noopener noreferrer";
      return a;
    }
    return document.createTextNode(show(url));
  }

  function setText(id, v) {
    byId(id).textContent = v;
  }

  function setNode(id, node) {
    byId(id).replaceChildren(node);
  }

  // A CSS class for a state, from a fixed list: the state's own text is never a class name.
  const TONE = {
    ready: "good", running: "good", external: "info",
    starting: "warn", waiting: "warn", backoff: "warn", stopping: "muted", stopped: "muted",
    exited: "muted", failed: "bad", degraded: "bad",
  };

  function stateNode(state, extra) {
    const span = el("span", "state " + (TONE[state] || "muted"), show(state));
    if (extra) span.classList.add(extra);
    return span;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = el("td", c.cls || "");
      if (c.node) td.append(c.node);
      else td.textContent = c.text;
      tr.append(td);
    }
    return tr;
  }

  // rows null: the document has no such list (an older wsinit): a dash, not "none".
  function fillTable(id, rows, columns) {
    const body = byId(id).tBodies[0];
    if (!rows || !rows.length) {
      const empty = el("td", "empty", rows ? "none" : DASH);
      empty.colSpan = columns;
      body.replaceChildren(el("tr"));
      body.rows[0].append(empty);
      return;
    }
    body.replaceChildren(...rows);
  }

  function renderServices(services) {
    if (!Array.isArray(services)) return fillTable("services", null, 8);
    fillTable("services", services.map((s) => {
      const exited = s.state === "exited" && present(s.last_exit) && s.last_exit !== "exit 0";
      return row([
        { text: show(s.name), cls: "name" },
        { node: stateNode(s.state, exited ? "bad" : "") },
        { text: show(s.ready) },
        { text: show(s.restarts), cls: "num" },
        { text: duration(s.uptime_s), cls: "num" },
        { text: bytes(s.memory_bytes), cls: "num" },
        { text: cpuSeconds(s.cpu_s), cls: "num" },
        { text: show(s.last_exit) + (isNumber(s.oom_kills) && s.oom_kills > 0 ? " (OOM kills: " + s.oom_kills + ")" : "") },
      ]);
    }), 8);
  }

  function renderPorts(ports) {
    if (!Array.isArray(ports)) return fillTable("ports", null, 5);
    fillTable("ports", ports.map((p) => {
      const address = el("span", "", show(p.address));
      if (p.loopback_only === true) {
        const warn = el("span", "badge warn", "⚠ loopback only");
        warn.title = "Listens on loopback only: not reachable from outside the workspace";
        address.append(" ", warn);
      }
      let process = show(p.process);
      if (isNumber(p.pid)) process += " (" + p.pid + ")";
      return row([
        { text: show(p.port), cls: "num" },
        { node: address },
        { text: show(p.service) },
        { text: process },
        { node: urlNode(p.url) },
      ]);
    }), 5);
  }

  function renderWarnings(warnings) {
    const list = Array.isArray(warnings) ? warnings : [];
    byId("warnings-section").hidden = list.length === 0;
    byId("warnings").replaceChildren(...list.map((w) => el("li", "", show(w))));
  }

  function render(doc) {
    const state = doc.state;
    setNode("state", stateNode(state));
    document.title = "Workspace " + show(state);
    setText("uptime", duration(doc.uptime_s));
    setText("user", show(doc.user && doc.user.name));
    setNode("editor", urlNode(doc.workspace && doc.workspace.editor_url));
    setText("not-ready", Array.isArray(doc.not_ready) && doc.not_ready.length ? doc.not_ready.join(", ") : DASH);
    renderWarnings(doc.warnings);
    renderServices(doc.services);
    renderPorts(doc.ports);

    const a = doc.activity || {};
    setText("last-active", timestamp(a.last_active));
    setText("idle-s", duration(a.idle_s));
    setText("idle", show(a.idle));
    setText("ssh-sessions", show(a.ssh_sessions));
    setText("editor-connections", show(a.editor_connections));

    const r = doc.resources || {};
    let memory = bytes(r.memory_bytes);
    if (isNumber(r.memory_limit_bytes)) {
      memory += " / " + bytes(r.memory_limit_bytes);
      if (isNumber(r.memory_bytes) && r.memory_limit_bytes > 0)
        memory += " (" + Math.round((100 * r.memory_bytes) / r.memory_limit_bytes) + "%)";
    } else if (isNumber(r.memory_bytes)) {
      memory += " / no limit";
    }
    setText("memory", memory);
    setText("memory-peak", bytes(r.memory_peak_bytes));
    setText("oom-kills", show(r.oom_kills));
    setText("cpu-throttled", cpuSeconds(r.cpu_throttled_s));

    setText("updated", "updated " + new Date().toLocaleTimeString() + (isNumber(doc.version) ? " · version " + doc.version : ""));
  }

  function setLink(live, retryMs) {
    const link = byId("link");
    link.className = "link " + (live ? "live" : "down");
    link.textContent = live ? "live" : "disconnected, retrying in " + Math.round(retryMs / 1000) + " s";
    document.body.classList.toggle("stale", !live);
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function fetchStatus(version) {
    const url = isNumber(version) ? "status?wait=change&version=" + version + "&timeout=" + WAIT : "status";
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), ANSWER_LIMIT_MS);
    try {
      const response = await fetch(url, { cache: "no-store", signal: abort.signal, headers: { Accept: "application/json" } });
      if (response.status === 400) return null;  // a version it does not take: start over
      if (!response.ok) throw new Error("HTTP " + response.status);
      return await response.json();
    } finally {
      clearTimeout(timer);
    }
  }

  async function follow() {
    let version = null;
    let failures = 0;
    for (;;) {
      const started = Date.now();
      try {
        const doc = await fetchStatus(version);
        version = doc && isNumber(doc.version) ? doc.version : null;
        if (doc) render(doc);
        failures = 0;
        setLink(true);
        await sleep(Math.max(0, started + MIN_GAP_MS - Date.now()));
      } catch (e) {
        failures++;
        const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** failures);  // 2 s, 4 s, ... 30 s
        setLink(false, backoff);
        await sleep(backoff);
      }
    }
  }

  follow();
})();
