// The status page: lists through GET executions, then long-polls each running execution's
// status URL (?wait=) so it turns final by itself. URLs stay relative to the page's own path.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const config = JSON.parse($("config").textContent);
  const base = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
  const ICON = { SUCCEEDED: "✓", FAILED: "✗", TIMED_OUT: "⏱", ABORTED: "■", RUNNING: "⟳", PENDING_REDRIVE: "↻" };
  const REFRESH = 5000, MAX_BACKOFF = 60000, WAIT = 20, MAX_POLLS = 4, LIMIT = 50;
  // With the stack's browser option (a Cognito user pool), the hosted sign-in page sends the user
  // back here with `#id_token=…`; it is kept for this tab only and sent on every request.
  const signedIn = new URLSearchParams(location.hash.slice(1)).get("id_token");
  if (signedIn) { sessionStorage.setItem("id_token", signedIn); history.replaceState(null, "", location.pathname + location.search); }
  const token = sessionStorage.getItem("id_token");
  const headers = token ? { accept: "application/json", authorization: token } : { accept: "application/json" };
  const rows = new Map(); // executionArn -> item (with absolute statusUrl)
  const polls = new Map(); // executionArn -> true while a long-poll is outstanding
  let refreshDelay = REFRESH, timer = 0, generation = 0, next = [], selected = null;

  const machineSelect = $("machine"), machineArn = $("machine-arn"), statusSelect = $("status");
  // Workflows by name: one option and one link each; ?workflow=NAME opens the page on it.
  const label = (m) => m.name + (m.express ? " (express)" : "");
  if (config.machines.length > 1) machineSelect.append(new Option("all workflows", ""));
  for (const m of config.machines) machineSelect.append(new Option(label(m), m.arn));
  if (config.machines.length === 0) { machineSelect.hidden = true; machineArn.hidden = false; }
  const wanted = config.machines.find((m) => m.name === new URLSearchParams(location.search).get("workflow"));
  if (wanted) machineSelect.value = wanted.arn;
  $("workflows").hidden = config.machines.length < 2;
  $("workflows").firstElementChild.replaceChildren(...config.machines.map((m) => {
    const li = document.createElement("li"), a = document.createElement("a");
    a.href = "?" + new URLSearchParams({ workflow: m.name });
    a.textContent = label(m);
    if (m === wanted) a.setAttribute("aria-current", "page");
    li.append(a);
    return li;
  }));

  const machines = () => {
    if (config.machines.length === 0) return machineArn.value.trim() ? [machineArn.value.trim()] : [];
    return machineSelect.value ? [machineSelect.value] : config.machines.map((m) => m.arn);
  };
  const listUrl = (machine, cursor) => {
    const q = new URLSearchParams({ stateMachine: machine, limit: String(LIMIT) });
    if (statusSelect.value) q.set("status", statusSelect.value);
    if (cursor) q.set("cursor", cursor);
    return new URL(base + "executions?" + q, location.href);
  };
  const say = (text) => { $("live").textContent = text; };
  const time = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
  const duration = (item) => {
    if (!item.startDate) return "—";
    const ms = (item.stopDate ? Date.parse(item.stopDate) : Date.now()) - Date.parse(item.startDate);
    if (ms < 10000) return (Math.max(0, ms) / 1000).toFixed(1) + " s";
    const s = Math.round(ms / 1000);
    return s < 60 ? s + " s" : s < 3600 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  };
  const statusCell = (td, status) => {
    td.className = "st st-" + status;
    td.textContent = (ICON[status] || "?") + " " + status;
  };

  function render() {
    const body = $("list").tBodies[0];
    const wanted = statusSelect.value;
    const items = [...rows.values()].filter((i) => !wanted || i.status === wanted)
      .sort((a, b) => Date.parse(b.startDate) - Date.parse(a.startDate));
    body.replaceChildren(...items.map((item) => {
      const tr = document.createElement("tr");
      tr.dataset.arn = item.executionArn;
      tr.dataset.status = item.status;
      const st = tr.insertCell(), name = tr.insertCell(), start = tr.insertCell(), dur = tr.insertCell();
      statusCell(st, item.status);
      name.className = "name";
      const open = document.createElement("button");
      open.type = "button";
      open.textContent = item.name;
      open.addEventListener("click", () => show(item.executionArn));
      const machine = document.createElement("small");
      machine.textContent = item.executionArn.split(":").slice(-2, -1)[0];
      name.append(open, machine);
      start.textContent = time(item.startDate);
      dur.textContent = duration(item);
      return tr;
    }));
    $("empty").hidden = items.length > 0;
    $("more").hidden = next.length === 0;
  }

  async function refresh(more) {
    clearTimeout(timer);
    const mine = generation;
    const pages = more ? next : machines().map((m) => ({ machine: m, cursor: null }));
    try {
      const answers = await Promise.all(pages.map(async (p) => {
        const response = await fetch(listUrl(p.machine, p.cursor), { headers });
        if (response.status === 401) throw new Error("sign in first: this API asks for a Cognito token");
        if (!response.ok) throw new Error((await response.json().catch(() => ({}))).detail || "HTTP " + response.status);
        return { machine: p.machine, url: response.url, body: await response.json() };
      }));
      if (mine !== generation) return;
      if (!more) next = [];
      for (const a of answers) {
        for (const item of a.body.executions) {
          item.statusUrl = new URL(item.statusUrl, a.url).href;
          const known = rows.get(item.executionArn);
          // A long-poll may already know it stopped; a list made earlier must not undo that.
          if (!(known && known.stopDate && !item.stopDate)) rows.set(item.executionArn, item);
        }
        next = next.filter((p) => p.machine !== a.machine);
        if (a.body.nextCursor) next.push({ machine: a.machine, cursor: a.body.nextCursor });
      }
      refreshDelay = REFRESH;
      say("Updated " + new Date().toLocaleTimeString() + ". Running executions update live.");
    } catch (err) {
      refreshDelay = Math.min(refreshDelay * 2, MAX_BACKOFF);
      say("Could not list executions (" + err.message + "); retrying in " + Math.round(refreshDelay / 1000) + " s.");
    }
    render();
    watch();
    if (mine === generation) timer = setTimeout(() => refresh(false), refreshDelay);
  }

  // One outstanding long-poll per running execution, and at most MAX_POLLS at once: a browser
  // holds six connections per origin, and the list needs one.
  function watch() {
    for (const item of rows.values()) {
      if (polls.size >= MAX_POLLS) return;
      if (!item.stopDate && !polls.has(item.executionArn)) poll(item.executionArn, 1000);
    }
  }

  async function poll(arn, backoff) {
    polls.set(arn, true);
    let delay = 0;
    try {
      const item = rows.get(arn);
      if (!item) return;
      const response = await fetch(item.statusUrl + "?wait=" + WAIT, { headers });
      if (response.status === 200 || response.status === 202) {
        const doc = await response.json();
        item.status = doc.status;
        item.stopDate = doc.stopDate || null;
        item.document = doc;
        render();
        if (selected === arn) fill(item);
        if (response.status === 202) delay = 0;
      } else {
        delay = backoff;
      }
    } catch {
      delay = backoff;
    } finally {
      polls.delete(arn);
    }
    const item = rows.get(arn);
    if (item && !item.stopDate) {
      setTimeout(() => { if (!polls.has(arn)) poll(arn, delay ? Math.min(backoff * 2, 30000) : 1000); }, delay);
    }
    watch();
  }

  function fill(item) {
    statusCell($("d-status"), item.status);
    $("d-arn").textContent = item.executionArn;
    $("d-start").textContent = time(item.startDate);
    $("d-stop").textContent = time(item.stopDate);
    const doc = item.document;
    $("d-error").textContent = (doc && doc.error) || "—";
    $("d-cause").textContent = (doc && doc.cause) || "—";
    $("d-curl").textContent = "curl -sS '" + item.statusUrl + "?wait=" + WAIT + "'";
    $("d-doc").textContent = doc ? JSON.stringify(doc, null, 2) : "Loading…";
  }

  // The steps as a timeline: one line per state entered, iterations and branches indented.
  async function steps(item) {
    const list = $("d-steps"), note = $("d-steps-note");
    list.replaceChildren();
    if (item.executionArn.includes(":express:")) { note.textContent = "Step Functions keeps no history of Express executions."; return; }
    note.textContent = "Loading…";
    try {
      const response = await fetch(item.statusUrl + "/steps?limit=1000", { headers });
      const page = await response.json();
      if (!response.ok) { note.textContent = page.detail || "HTTP " + response.status; return; }
      if (selected !== item.executionArn) return;
      list.replaceChildren(...page.steps.map((step) => {
        const li = document.createElement("li"), mark = document.createElement("span");
        li.style.marginInlineStart = step.within ? step.within.length * 1.25 + "em" : "0";
        statusCell(mark, step.status);
        const where = (step.within || []).map((w) => w.state + " " + ("iteration" in w ? "#" + w.iteration : "branch " + w.branch)).join(" › ");
        const parts = [step.name + " (" + step.type + ")"];
        if (step.durationMs != null) parts.push((step.durationMs / 1000).toFixed(1) + " s");
        else if (step.status === "RUNNING") parts.push("running");
        if (step.attempts > 1) parts.push(step.attempts + " attempts");
        if (step.error) parts.push(step.error + (step.cause ? ": " + step.cause : ""));
        if (where) parts.push("in " + where);
        li.append(mark, " " + parts.join(" · "));
        return li;
      }));
      note.textContent = page.nextCursor ? "The first 1,000 steps are shown." : page.steps.length ? "" : "No steps yet.";
    } catch (err) {
      note.textContent = "Could not read the steps: " + err.message;
    }
  }

  // Stop and redrive, where the deployment allows it (ALLOW_CONTROL), each after a confirmation.
  function controls(item) {
    const standard = !item.executionArn.includes(":express:");
    const stoppable = config.control && standard && item.status === "RUNNING";
    const redrivable = config.control && standard && ["FAILED", "TIMED_OUT", "ABORTED"].includes(item.status);
    $("stop").hidden = !stoppable;
    $("redrive").hidden = !redrivable;
    $("controls").hidden = !stoppable && !redrivable;
  }

  async function act(action) {
    const item = rows.get(selected);
    if (!item) return;
    const name = item.executionArn.split(":").pop();
    if (!confirm((action === "stop" ? "Stop" : "Redrive") + " the execution " + name + "?")) return;
    try {
      const response = await fetch(item.statusUrl + "/" + action, {
        method: "POST", headers: { ...headers, "content-type": "application/json" }, body: "{}",
      });
      const doc = await response.json();
      if (!response.ok) { say((action === "stop" ? "Not stopped: " : "Not redriven: ") + (doc.detail || "HTTP " + response.status)); return; }
      Object.assign(item, { status: doc.status, stopDate: doc.stopDate, document: doc });
      say(action === "stop" ? "Stopped " + name + "." : "Redriven " + name + ": running again.");
      fill(item);
      controls(item);
      steps(item);
      refresh(false);
    } catch (err) {
      say("The request failed: " + err.message);
    }
  }
  $("stop").addEventListener("click", () => act("stop"));
  $("redrive").addEventListener("click", () => act("redrive"));

  async function show(arn) {
    const item = rows.get(arn);
    if (!item) return;
    selected = arn;
    $("detail").hidden = false;
    fill(item);
    controls(item);
    steps(item);
    $("detail-title").focus?.();
    try {
      const response = await fetch(item.statusUrl, { headers });
      const doc = await response.json();
      if (response.ok) item.document = doc;
      else $("d-doc").textContent = JSON.stringify(doc, null, 2);
      if (selected === arn && response.ok) { item.status = doc.status; fill(item); controls(item); }
    } catch (err) {
      $("d-doc").textContent = "Could not read the execution: " + err.message;
    }
    $("detail").scrollIntoView({ block: "nearest" });
  }

  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const text = $(button.dataset.copy).textContent;
      try { await navigator.clipboard.writeText(text); say("Copied."); } catch { say("Copy failed: select the text instead."); }
    });
  }
  $("close").addEventListener("click", () => { $("detail").hidden = true; selected = null; });
  $("more").addEventListener("click", () => refresh(true));
  const restart = () => { generation += 1; rows.clear(); next = []; refresh(false); };
  machineSelect.addEventListener("change", () => {
    const m = config.machines.find((m) => m.arn === machineSelect.value);
    history.replaceState(null, "", location.pathname + (m ? "?" + new URLSearchParams({ workflow: m.name }) : ""));
    for (const a of $("workflows").querySelectorAll("a")) {
      if (m !== undefined && a.textContent === label(m)) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    restart();
  });
  machineArn.addEventListener("change", restart);
  statusSelect.addEventListener("change", restart);
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  // Running durations tick in place: re-rendering would take keyboard focus away.
  setInterval(() => {
    for (const tr of $("list").tBodies[0].rows) {
      const item = rows.get(tr.dataset.arn);
      if (item && !item.stopDate) tr.cells[3].textContent = duration(item);
    }
  }, 1000);
  refresh(false);
})();
