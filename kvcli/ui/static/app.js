// kvcli explorer: a small front end over the explorer's JSON API (kvcli/ui/server.py). No framework, no build.
// Every text from the store (keys, values, metadata) goes into the page through textContent or an attribute,
// never through innerHTML, so stored data cannot become markup.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let info = { backend: "", local: true, display_limit: 0, page_size: 500, import_formats: [], export_formats: [] };

  // ------------------------------------------------------------------------------------------ DOM helpers
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "text") el.textContent = value;
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  function field(labelText, input, cls) { return h("label", { class: cls || null }, labelText, input); }

  function showError(text) {
    const box = $("error");
    box.textContent = text ? "Error: " + text : "";
    box.hidden = !text;
  }
  let noticeFresh = false;  // a notice outlives the one navigation that follows it, no more
  function notice(text) { $("notice").textContent = text || ""; noticeFresh = Boolean(text); }

  // -------------------------------------------------------------------------------------------------- API
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error) || ("HTTP " + status));
      this.status = status; this.kind = body && body.kind; this.body = body;
    }
  }
  async function api(method, path, body) {
    const opts = { method, headers: {}, credentials: "same-origin" };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    let resp;
    try { resp = await fetch(path, opts); } catch (e) { throw new ApiError(0, { error: "the explorer is not reachable (is 'kvcli ui' still running?)" }); }
    let data = null;
    try { data = await resp.json(); } catch (e) { data = { error: "HTTP " + resp.status }; }
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  }
  const enc = encodeURIComponent;
  const storePath = (sid) => "/api/stores/" + enc(sid);

  // ------------------------------------------------------------------------------------------- routing
  function route() {
    const hash = location.hash.replace(/^#/, "") || "/";
    const [path, query] = hash.split("?");
    return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || "") };
  }
  function go(path, params) {
    const q = params ? new URLSearchParams(params).toString() : "";
    location.hash = "#" + path + (q ? "?" + q : "");
  }
  const storeHash = (sid, params) => "#/s/" + enc(sid) + (params && params.toString() ? "?" + params : "");
  const keyHash = (sid, key) => "#/s/" + enc(sid) + "/k?" + new URLSearchParams({ key });

  function crumbs(items) {
    const nav = $("crumbs");
    nav.replaceChildren();
    items.forEach((item, i) => {
      if (i) nav.append(" / ");
      nav.append(item.href ? h("a", { href: item.href }, item.text) : h("span", { "aria-current": "page" }, item.text));
    });
  }
  // Views are async: a view whose navigation was overtaken by a newer one must not draw over it.
  let renderSeq = 0;
  function current() { const mine = renderSeq; return () => mine === renderSeq; }
  function page(title, ...content) {
    const main = $("main");
    main.replaceChildren(h("h1", {}, title), ...content.filter((c) => c !== null && c !== undefined));
    document.title = title + " · kvcli explorer";
  }

  async function render() {
    showError("");
    if (!noticeFresh) notice("");
    noticeFresh = false;
    renderSeq += 1;
    const { parts, params } = route();
    try {
      if (parts[0] === "s" && parts[1] && parts[2] === "k") await keyView(parts[1], params.get("key") || "");
      else if (parts[0] === "s" && parts[1] && parts[2] === "new") await editView(parts[1], null);
      else if (parts[0] === "s" && parts[1]) await storeView(parts[1], params);
      else await storesView();
    } catch (e) {
      showError(e.message);
    }
  }

  // ------------------------------------------------------------------------------------------- dialogs
  // A modal dialog (Esc closes it, focus stays inside). confirmText: the text the person must type.
  function confirmDialog({ title, body, action, confirmText, danger = true }) {
    return new Promise((resolve) => {
      const dlg = $("dialog");
      const typed = confirmText ? h("input", { id: "confirm-input", autocomplete: "off", spellcheck: "false" }) : null;
      const ok = h("button", { type: "submit", class: danger ? "danger" : "primary", value: "ok" }, action);
      if (typed) { ok.disabled = true; typed.addEventListener("input", () => { ok.disabled = typed.value !== confirmText; }); }
      const form = h("form", { method: "dialog" },
        h("h2", { id: "dialog-title" }, title),
        ...(Array.isArray(body) ? body : [body]).map((b) => (b instanceof Node ? b : h("p", {}, b))),
        typed ? field(h("span", {}, "Type ", h("code", {}, confirmText), " to confirm"), typed) : null,
        h("div", { class: "actions" }, h("button", { type: "submit", value: "cancel", formnovalidate: true }, "Cancel"), ok));
      dlg.replaceChildren(form);
      dlg.returnValue = "";
      dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
      dlg.showModal();
      (typed || ok).focus();
    });
  }

  // --------------------------------------------------------------------------------------------- stores
  async function storesView() {
    const live = current();
    crumbs([{ text: "Stores" }]);
    const data = await api("GET", "/api/stores");
    const name = h("input", { id: "new-store-name", required: true, autocomplete: "off", placeholder: "my-store" });
    const loc = h("select", { id: "new-store-location" },
      h("option", { value: "" }, "default"), ...["US", "EU", "ASIA", "AUS"].map((l) => h("option", { value: l }, l)));
    const create = h("form", { class: "toolbar", "aria-label": "Create a store", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const s = await api("POST", "/api/stores", { name: name.value, location: loc.value || null });
        notice("Created store " + s.name + ".");
        location.hash = storeHash(s.id);
      } catch (e) { showError(e.message); }
    } }, field("New store name", name), field("Location", loc), h("button", { type: "submit", class: "primary" }, "Create store"));
    const rows = data.stores.map((s) => h("tr", {},
      h("td", { "data-label": "Name" }, h("a", { href: storeHash(s.id) }, s.name)),
      h("td", { "data-label": "ID", class: "id" }, s.id),
      h("td", { "data-label": "Location" }, s.location || "—"),
      h("td", { "data-label": "Created" }, s.created_at ? new Date(s.created_at).toLocaleString() : "—"),
      h("td", {}, h("button", { class: "danger", "aria-label": "Delete store " + s.name, onclick: () => deleteStore(s) }, "Delete"))));
    const table = data.stores.length
      ? h("table", { class: "stores" }, h("caption", { class: "muted", style: null }, data.stores.length + (data.stores.length === 1 ? " store" : " stores")),
          h("thead", {}, h("tr", {}, ["Name", "ID", "Location", "Created", ""].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No stores yet: create one.");
    if (live()) page("Stores", create, table);
  }

  async function deleteStore(s) {
    const yes = await confirmDialog({ title: "Delete store " + s.name + "?",
      body: ["The store must be empty: delete its keys first (Delete prefix… with an empty prefix deletes them all).",
             "This cannot be undone."], action: "Delete store", confirmText: s.name });
    if (!yes) return;
    try {
      await api("POST", storePath(s.id) + "/delete", { confirm: s.name });
      notice("Deleted store " + s.name + ".");
      await render();
    } catch (e) { showError(e.message); }
  }

  // ---------------------------------------------------------------------------------------------- keys
  async function storeView(sid, params) {
    const live = current();
    const store = await api("GET", storePath(sid));
    const prefix = params.get("prefix") || "";
    const tree = params.get("view") === "tree";
    crumbs([{ text: "Stores", href: "#/" }, { text: store.name }]);
    const search = h("input", { id: "prefix", type: "search", value: prefix, autocomplete: "off", spellcheck: "false", placeholder: "e.g. user/" });
    const searchForm = h("form", { role: "search", class: "row", onsubmit: (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams(params); p.set("prefix", search.value); if (!search.value) p.delete("prefix");
      location.hash = storeHash(sid, p);
    } }, field("Key prefix", search), h("button", { type: "submit" }, "Search"));
    const viewBtn = (label, isTree) => h("button", { type: "button", "aria-pressed": String(tree === isTree), onclick: () => {
      const p = new URLSearchParams(params); if (isTree) p.set("view", "tree"); else p.delete("view");
      location.hash = storeHash(sid, p);
    } }, label);
    const fmt = h("select", { id: "export-format" }, ...info.export_formats.map((f) => h("option", { value: f }, f)));
    const exportLink = h("a", { class: "button", id: "export-link", download: "" }, prefix ? "Export prefix" : "Export store");
    const setExport = () => { exportLink.href = storePath(sid) + "/export?" + new URLSearchParams({ format: fmt.value, ...(prefix ? { prefix } : {}) }); };
    fmt.addEventListener("change", setExport); setExport();
    const toolbar = h("div", { class: "toolbar" },
      searchForm,
      h("div", { role: "group", "aria-label": "View" }, viewBtn("List", false), " ", viewBtn("Tree", true)),
      h("a", { class: "button", href: "#/s/" + enc(sid) + "/new" + (prefix ? "?" + new URLSearchParams({ prefix }) : "") }, "Add key"),
      h("button", { type: "button", class: "danger", onclick: () => bulkDelete(store, prefix) }, prefix ? "Delete prefix…" : "Delete all keys…"),
      field("Export format", fmt), exportLink);
    const importBox = importForm(store);
    const list = h("ul", { class: "keys", "aria-label": tree ? "Folders and keys" : "Keys" });
    const status = h("p", { class: "muted", id: "key-status", "aria-live": "polite" });
    const more = h("button", { type: "button", id: "load-more", hidden: true }, "Load more");
    const heading = prefix ? h("p", {}, "Keys starting with ", h("code", {}, prefix)) : null;
    if (!live()) return;
    page(store.name, h("p", { class: "muted mono" }, store.id + (store.location ? " · " + store.location : "")),
      toolbar, importBox, heading, list, h("div", { class: "row" }, more, status));

    let cursor = null, shown = 0;
    const folders = new Set();
    async function load() {
      more.disabled = true;
      const q = new URLSearchParams();
      if (prefix) q.set("prefix", prefix);
      if (cursor) q.set("cursor", cursor);
      try {
        const data = await api("GET", storePath(sid) + "/keys?" + q);
        for (const key of data.keys) {
          const rest = key.slice(prefix.length);
          const cut = rest.indexOf("/");
          if (tree && cut >= 0) {
            const folder = prefix + rest.slice(0, cut + 1);
            if (folders.has(folder)) continue;
            folders.add(folder);
            const p = new URLSearchParams({ prefix: folder, view: "tree" });
            list.append(h("li", {}, h("button", { type: "button", class: "folder", "aria-label": "Folder " + folder,
              onclick: () => { location.hash = storeHash(sid, p); } }, tree ? rest.slice(0, cut + 1) : folder)));
          } else {
            list.append(h("li", {}, h("a", { href: keyHash(sid, key) }, tree ? rest : key)));
          }
          shown += 1;
        }
        cursor = data.next_cursor;
        more.hidden = !cursor;
        status.textContent = shown + (shown === 1 ? " key" : " keys") + " listed" + (cursor ? ", more to load" : "") +
          (tree && folders.size ? " (" + folders.size + (folders.size === 1 ? " folder" : " folders") + ")" : "");
        if (!shown) status.textContent = prefix ? "No keys start with this prefix." : "This store has no keys.";
      } catch (e) { showError(e.message); }
      more.disabled = false;
    }
    more.addEventListener("click", load);
    await load();
  }

  async function bulkDelete(store, prefix) {
    let count;
    try { count = await api("GET", storePath(store.id) + "/count?" + new URLSearchParams(prefix ? { prefix } : {})); }
    catch (e) { showError(e.message); return; }
    if (!count.count) { notice(prefix ? "No keys start with " + prefix + "." : "The store has no keys."); return; }
    const what = count.count + (count.count === 1 ? " key" : " keys");
    const body = [prefix ? h("p", {}, "This deletes " + what + " starting with ", h("code", {}, prefix), ".") : "This deletes all " + what + " of the store."];
    if (count.requests !== undefined) body.push("Over the Fastly API this takes about " + count.requests + " API requests, which count against the account's rate limit.");
    const yes = await confirmDialog({ title: "Delete " + what + "?", body, action: "Delete " + what, confirmText: String(count.count) });
    if (!yes) return;
    try {
      notice("Deleting " + what + "…");
      const r = await api("POST", storePath(store.id) + "/delete-prefix", { prefix, expected_count: count.count });
      notice("Deleted " + r.deleted + (r.deleted === 1 ? " key." : " keys."));
      await render();
    } catch (e) { notice(""); showError(e.message); }
  }

  function importForm(store) {
    const file = h("input", { type: "file", id: "import-file" });
    const fmt = h("select", { id: "import-format" }, h("option", { value: "" }, "detect"),
      ...info.import_formats.map((f) => h("option", { value: f }, f)));
    const bar = h("progress", { id: "import-progress", max: 100, value: 0, hidden: true, "aria-label": "Import progress" });
    const status = h("span", { id: "import-status", role: "status" });
    const form = h("form", { class: "toolbar", "aria-label": "Import a file", onsubmit: (ev) => {
      ev.preventDefault();
      const f = file.files[0];
      if (!f) { showError("choose a file to import"); return; }
      bar.hidden = false; bar.value = 0; status.textContent = "Uploading " + f.name + "…";
      const xhr = new XMLHttpRequest();
      const q = new URLSearchParams({ filename: f.name }); if (fmt.value) q.set("format", fmt.value);
      xhr.open("POST", storePath(store.id) + "/import?" + q);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round(50 * e.loaded / e.total); };
      xhr.onerror = () => { showError("the upload failed (is 'kvcli ui' still running?)"); };
      xhr.onload = () => {
        let data = {}; try { data = JSON.parse(xhr.responseText); } catch (e) { /* shown below */ }
        if (xhr.status !== 202) { bar.hidden = true; status.textContent = ""; showError(data.error || ("HTTP " + xhr.status)); return; }
        status.textContent = "Importing…"; bar.value = 50;
        poll(data.job);
      };
      xhr.send(f);
    } }, field("Import file (any format kv-store-entry create --file reads)", file), field("Format", fmt),
      h("button", { type: "submit" }, "Import"), bar, status);
    async function poll(job) {
      let j;
      try { j = await api("GET", "/api/jobs/" + enc(job)); } catch (e) { showError(e.message); return; }
      const done = j.written + j.failed;
      status.textContent = (j.state === "running" ? "Importing: " : "") + j.written + " written" + (j.failed ? ", " + j.failed + " failed" : "");
      if (j.state === "running") { bar.value = Math.min(99, 50 + Math.round(done ? 49 - 49 / (1 + done / 1000) : 0)); setTimeout(() => poll(job), 250); return; }
      bar.value = 100;
      if (j.state === "done") {
        const said = "Imported " + j.written + (j.written === 1 ? " entry" : " entries") + (j.skipped ? " (" + j.skipped + " skipped)" : "") + ".";
        // the key list is drawn again first (with a new form), and only then is the import said to be done, so
        // nothing done after reading "Imported" lands on a form that is about to be replaced
        const list = document.querySelector("ul.keys");
        if (list) { const { parts, params } = route(); if (parts[0] === "s") { await storeView(store.id, params); } }
        const shown = document.getElementById("import-status");
        (shown || status).textContent = said;
      } else {
        const lines = (j.errors || []).slice(0, 5).map((e) => "line " + e.line + (e.key ? " (" + e.key + ")" : "") + ": " + e.detail);
        showError(j.error + (lines.length ? " — " + lines.join("; ") : ""));
      }
    }
    return form;
  }

  // ----------------------------------------------------------------------------------------------- a key
  function fmtSize(n) { return n < 1024 ? n + " bytes" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB (" + n + " bytes)" : (n / 1048576).toFixed(1) + " MiB (" + n + " bytes)"; }
  function fmtTime(t) { return t ? new Date(t).toLocaleString() + " (" + t + ")" : "never"; }

  async function keyView(sid, key) {
    const live = current();
    const [store, item] = await Promise.all([api("GET", storePath(sid)), api("GET", storePath(sid) + "/item?" + new URLSearchParams({ key }))]);
    const cut = key.lastIndexOf("/");
    const parent = cut >= 0 ? key.slice(0, cut + 1) : "";
    crumbs([{ text: "Stores", href: "#/" }, { text: store.name, href: storeHash(sid) },
      ...(parent ? [{ text: parent, href: storeHash(sid, new URLSearchParams({ prefix: parent, view: "tree" })) }] : []),
      { text: cut >= 0 ? key.slice(cut + 1) : key }]);
    const facts = h("dl", { class: "facts" },
      h("dt", {}, "Size"), h("dd", { id: "fact-size" }, fmtSize(item.size)),
      h("dt", {}, "Generation"), h("dd", { id: "fact-generation", class: "mono" }, String(item.generation)),
      h("dt", {}, "Metadata"), h("dd", { id: "fact-metadata", class: "mono" }, item.metadata || "—"),
      h("dt", {}, "Expires"), h("dd", { id: "fact-expires" }, fmtTime(item.expires_at)),
      h("dt", {}, "Last modified"), h("dd", {}, item.last_modified ? fmtTime(item.last_modified) : "—"));
    const download = h("a", { class: "button", id: "download", href: storePath(sid) + "/value?" + new URLSearchParams({ key }), download: "" }, "Download value");
    const actions = h("div", { class: "row" },
      item.too_large || item.kind === "binary" || item.kind === "image" ? null :
        h("a", { class: "button", href: "#/s/" + enc(sid) + "/new?" + new URLSearchParams({ edit: key }) }, "Edit"),
      download,
      h("button", { type: "button", class: "danger", onclick: () => deleteKey(sid, item) }, "Delete key"));
    if (live()) page(key, facts, actions, h("h2", {}, "Value"), valueBlock(item));
  }

  function valueBlock(item) {
    if (item.too_large) return h("p", { id: "too-large" }, "This value (" + fmtSize(item.size) + ") is over the page's display limit of " + fmtSize(info.display_limit) + ": use Download value.");
    if (item.kind === "empty") return h("p", { class: "muted", id: "value-empty" }, "(empty value)");
    if (item.kind === "image") {
      const bytes = Uint8Array.from(atob(item.base64), (c) => c.charCodeAt(0));
      const url = URL.createObjectURL(new Blob([bytes], { type: item.image_type }));
      return h("figure", {}, h("img", { class: "preview", id: "image-preview", src: url, alt: "Preview of " + item.key }),
        h("figcaption", { class: "muted" }, item.image_type));
    }
    if (item.kind === "binary") return h("div", {}, h("p", { class: "muted" }, "Binary value, shown as hex" + (item.hex_truncated ? " (the first 16 KiB; download it for all)" : "") + ":"),
      h("pre", { class: "value", id: "value-hex", tabindex: 0, "aria-label": "Value in hex" }, item.hex));
    const pre = h("pre", { class: "value", id: "value-text", tabindex: 0, "aria-label": "Value" });
    if (item.kind !== "json") { pre.textContent = item.text; return pre; }
    const tabs = h("div", { class: "tabs", role: "group", "aria-label": "Show value as" });
    const show = (pretty) => {
      pre.textContent = pretty ? item.pretty : item.text;
      for (const b of tabs.children) b.setAttribute("aria-pressed", String((b.dataset.mode === "json") === pretty));
    };
    tabs.append(h("button", { type: "button", "data-mode": "json", onclick: () => show(true) }, "Pretty JSON"),
      h("button", { type: "button", "data-mode": "text", onclick: () => show(false) }, "Text"));
    show(true);
    return h("div", {}, tabs, pre);
  }

  async function deleteKey(sid, item) {
    const yes = await confirmDialog({ title: "Delete this key?", body: [h("p", {}, h("code", {}, item.key)), "This cannot be undone."], action: "Delete key" });
    if (!yes) return;
    try {
      await api("POST", storePath(sid) + "/item/delete", { key: item.key, if_generation_match: item.generation });
      notice("Deleted " + item.key + ".");
      const cut = item.key.lastIndexOf("/");
      location.hash = storeHash(sid, cut >= 0 ? new URLSearchParams({ prefix: item.key.slice(0, cut + 1) }) : undefined);
    } catch (e) { showError(e.message); }
  }

  // Add (no item) or edit (params.edit = key): edits send if_generation_match, so a concurrent change is reported.
  async function editView(sid) {
    const live = current();
    const { params } = route();
    const editing = params.get("edit");
    const store = await api("GET", storePath(sid));
    let item = null;
    if (editing) item = await api("GET", storePath(sid) + "/item?" + new URLSearchParams({ key: editing }));
    crumbs([{ text: "Stores", href: "#/" }, { text: store.name, href: storeHash(sid) }, { text: editing ? "Edit" : "Add key" }]);
    const key = h("input", { id: "edit-key", required: true, autocomplete: "off", spellcheck: "false", value: editing || params.get("prefix") || "" });
    if (editing) key.readOnly = true;
    const value = h("textarea", { id: "edit-value", spellcheck: "false" });
    value.value = item ? (item.kind === "json" ? item.text : item.text || "") : "";
    const metadata = h("input", { id: "edit-metadata", autocomplete: "off", value: item ? item.metadata : "" });
    const ttl = h("input", { id: "edit-ttl", type: "number", min: 1, inputmode: "numeric", placeholder: "none" });
    const form = h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      const body = { key: key.value, value: value.value, metadata: metadata.value || null,
        ttl: ttl.value ? Number(ttl.value) : null, if_generation_match: item ? item.generation : 0 };
      try {
        await api("PUT", storePath(sid) + "/item", body);
        notice((item ? "Saved " : "Added ") + key.value + ".");
        location.hash = keyHash(sid, key.value);
      } catch (e) { showError(e.message); }
    } },
      h("div", { class: "row" }, field("Key", key)),
      field("Value (text)", value, "wide"),
      h("div", { class: "row" }, field("Metadata", metadata), field(item && item.expires_at ? "New TTL in seconds (empty: keep the expiry)" : "TTL in seconds (optional)", ttl)),
      item ? h("p", { class: "muted" }, "Saving writes only if the key is still at generation " + item.generation + ": a change made meanwhile is reported, not overwritten.")
           : h("p", { class: "muted" }, "Adding writes only if the key does not exist yet."),
      h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, item ? "Save" : "Add key"),
        h("a", { class: "button", href: editing ? keyHash(sid, editing) : storeHash(sid) }, "Cancel")));
    if (!live()) return;
    page(editing ? "Edit " + editing : "Add a key to " + store.name, form);
    (editing ? value : key).focus();
  }

  // ------------------------------------------------------------------------------------------------ start
  async function start() {
    if (location.search.includes("token=")) history.replaceState(null, "", "/" + location.hash);  // the cookie has it now
    try {
      info = await api("GET", "/api/info");
      $("backend").textContent = info.backend;
    } catch (e) { showError(e.message); }
    window.addEventListener("hashchange", () => { render().then(() => $("main").focus({ preventScroll: true })); });
    await render();
    document.body.dataset.ready = "1";
  }
  start();
})();
