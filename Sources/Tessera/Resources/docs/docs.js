"use strict";
(function () {
  const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
  const INTERESTING = ["content-type", "location", "www-authenticate", "retry-after", "allow", "cache-control",
    "x-request-id", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"];
  let doc = {};

  // Build DOM nodes; string children become text nodes (never parsed as HTML).
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid == null || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }
  const slug = (s) => String(s).replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "") || "x";
  const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

  // ---- $ref handling -------------------------------------------------------
  function resolvePointer(ref) {
    if (typeof ref !== "string" || !ref.startsWith("#/")) return undefined;
    let cur = doc;
    for (const raw of ref.slice(2).split("/")) {
      const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
      if (!isObj(cur) && !Array.isArray(cur)) return undefined;
      cur = cur[key];
    }
    return cur;
  }
  const refName = (ref) => String(ref).split("/").pop();
  const deref = (o) => (isObj(o) && o.$ref ? resolvePointer(o.$ref) || {} : o || {});

  function typeLabel(s) {
    if (!isObj(s)) return "any";
    if (s.$ref) return refName(s.$ref);
    if (s.oneOf || s.anyOf) return (s.oneOf || s.anyOf).map(typeLabel).join(" | ");
    if (s.allOf) return s.allOf.map(typeLabel).join(" & ");
    if ("const" in s) return JSON.stringify(s.const);
    const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : (s.properties ? ["object"] : s.enum ? ["enum"] : ["any"]);
    return types.map((t) => {
      if (t === "array") return "array<" + typeLabel(s.items) + ">";
      if (t === "object" && isObj(s.additionalProperties)) return "map<string, " + typeLabel(s.additionalProperties) + ">";
      return t;
    }).join(" | ");
  }

  function notes(s) {
    const out = [];
    if (!isObj(s)) return out;
    if (s.format) out.push("format: " + s.format);
    if (Array.isArray(s.enum)) out.push("one of: " + s.enum.map((v) => JSON.stringify(v)).join(", "));
    if ("default" in s) out.push("default: " + JSON.stringify(s.default));
    for (const k of ["minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "pattern"])
      if (k in s) out.push(k + ": " + s[k]);
    if (s.readOnly) out.push("read-only");
    if (s.deprecated) out.push("deprecated");
    return out;
  }

  // Render a schema readably; $refs are expanded while depth < 2, deeper ones show their name only.
  function renderSchema(schema, depth) {
    let s = schema || {};
    let name = null;
    if (s.$ref) { name = refName(s.$ref); s = deref(s); }
    if (s.allOf) { // merge simple allOf compositions for display
      const merged = { type: "object", properties: {}, required: [] };
      for (const part of s.allOf) { const p = deref(part); Object.assign(merged.properties, p.properties || {}); merged.required.push(...(p.required || [])); }
      s = Object.assign({}, s, merged);
    }
    const box = h("div");
    if (s.description && depth === 0) box.append(h("p", { class: "desc" }, s.description));
    if (isObj(s.properties) && Object.keys(s.properties).length) {
      const required = new Set(s.required || []);
      const rows = Object.entries(s.properties).map(([prop, ps]) => {
        const real = deref(ps);
        const nestedTarget = (real.type === "array" || (Array.isArray(real.type) && real.type.includes("array"))) ? real.items : ps;
        const nestedReal = deref(nestedTarget);
        const nestable = depth < 1 && isObj(nestedReal) && isObj(nestedReal.properties);
        return h("tr", null,
          h("td", null, h("code", null, prop), required.has(prop) ? [" ", h("span", { class: "req" }, "required")] : null),
          h("td", null, h("span", { class: "type mono" }, typeLabel(ps))),
          h("td", null,
            (ps.description || real.description) ? h("span", null, ps.description || real.description) : null,
            notes(Object.assign({}, real, ps)).map((n) => h("span", { class: "note" }, n)),
            nestable ? h("details", { class: "nested" }, h("summary", null, "Show " + (nestedTarget.$ref ? refName(nestedTarget.$ref) : "fields")), renderSchema(nestedTarget, depth + 1)) : null));
      });
      box.append(h("div", { class: "tablewrap" }, h("table", null,
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Type"), h("th", { scope: "col" }, "Notes"))),
        h("tbody", null, rows))));
    } else if (!name || depth > 0) {
      box.append(h("p", null, h("span", { class: "type mono" }, typeLabel(s)), " ", notes(s).join(" · ")));
    }
    return box;
  }

  // ---- example skeletons -----------------------------------------------------
  function stringExample(s, key) {
    const k = String(key || "").toLowerCase();
    const byFormat = { email: "user@example.com", "date-time": "2024-01-01T00:00:00Z", date: "2024-01-01", time: "12:00:00",
      uuid: "00000000-0000-0000-0000-000000000000", uri: "https://example.com", url: "https://example.com", ipv4: "192.0.2.1",
      password: "correct horse battery staple", byte: "", jwt: "eyJ…" };
    if (s.format && s.format in byFormat) return byFormat[s.format];
    if (k.includes("email")) return "user@example.com";
    if (k.includes("phone")) return "+15555550123";
    if (k.includes("password")) return "correct horse battery staple";
    if (k === "refresh" || k === "access" || k.endsWith("token")) return "";
    return "string";
  }
  function example(schema, key, seen, depth) {
    seen = seen || new Set(); depth = depth || 0;
    if (!isObj(schema) || depth > 8) return null;
    if (schema.$ref) {
      if (seen.has(schema.$ref)) return {};
      return example(deref(schema), key, new Set([...seen, schema.$ref]), depth + 1);
    }
    const s = schema;
    if ("example" in s) return s.example;
    if (Array.isArray(s.examples) && s.examples.length) return s.examples[0];
    if ("const" in s) return s.const;
    if ("default" in s) return s.default;
    if (Array.isArray(s.enum) && s.enum.length) return s.enum.find((v) => v !== null) ?? s.enum[0];
    if (s.allOf) return Object.assign({}, ...s.allOf.map((p) => example(p, key, seen, depth + 1)).filter(isObj));
    if (s.oneOf || s.anyOf) return example((s.oneOf || s.anyOf)[0], key, seen, depth + 1);
    const types = Array.isArray(s.type) ? s.type : s.type ? [s.type] : [];
    const t = types.find((x) => x !== "null") || (s.properties ? "object" : types[0]);
    switch (t) {
      case "string": return stringExample(s, key);
      case "integer": case "number": return typeof s.minimum === "number" ? s.minimum : 0;
      case "boolean": return false;
      case "null": return null;
      case "array": return s.items ? [example(s.items, key, seen, depth + 1)] : [];
      case "object": {
        const o = {};
        for (const [k, v] of Object.entries(s.properties || {})) o[k] = example(v, k, seen, depth + 1);
        return o;
      }
      default: return null;
    }
  }

  // ---- token -----------------------------------------------------------------
  const tokenInput = document.getElementById("token");
  const tokenStatus = document.getElementById("token-status");
  function describeToken(t) {
    if (!t) return "No token set. Kept in this page only: a reload forgets it.";
    try {
      const p = JSON.parse(atob(t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      if (typeof p.exp === "number") {
        const mins = Math.round((p.exp * 1000 - Date.now()) / 60000);
        return mins > 0 ? "Token set; expires in about " + mins + " min." : "Token set, but it has expired.";
      }
    } catch (_) { /* not a JWT we can read; that's fine */ }
    return "Token set.";
  }
  // In this function's memory only: no storage another script on the origin could read.
  let token = "";
  function setToken(t) {
    t = (t || "").trim();
    token = t;
    if (tokenInput.value.trim() !== t) tokenInput.value = t;
    tokenStatus.textContent = describeToken(t);
  }
  const getToken = () => token;
  tokenInput.addEventListener("input", () => setToken(tokenInput.value));
  document.getElementById("token-clear").addEventListener("click", () => setToken(""));
  document.getElementById("token-show").addEventListener("click", (e) => {
    const show = tokenInput.type === "password";
    tokenInput.type = show ? "text" : "password";
    e.currentTarget.textContent = show ? "Hide" : "Show";
    e.currentTarget.setAttribute("aria-pressed", String(show));
  });
  setToken(getToken());

  // ---- operations ------------------------------------------------------------
  function needsAuth(op) {
    const sec = Array.isArray(op.security) ? op.security : (Array.isArray(doc.security) ? doc.security : []);
    return sec.some((req) => isObj(req) && Object.keys(req).length > 0);
  }
  function jsonMedia(content) {
    if (!isObj(content)) return null;
    const type = Object.keys(content).find((k) => /json/i.test(k)) || Object.keys(content)[0];
    return type ? { type, media: content[type] || {} } : null;
  }

  function renderParams(params) {
    return h("div", { class: "tablewrap" }, h("table", null,
      h("thead", null, h("tr", null, ["Name", "In", "Type", "Description"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", null, params.map((p) => h("tr", null,
        h("td", null, h("code", null, p.name), p.required ? [" ", h("span", { class: "req" }, "required")] : null),
        h("td", null, p.in),
        h("td", null, h("span", { class: "type mono" }, typeLabel(p.schema))),
        h("td", null, p.description || "", notes(deref(p.schema)).map((n) => h("span", { class: "note" }, n))))))));
  }

  function renderResponses(responses) {
    return h("div", { class: "tablewrap" }, h("table", null,
      h("thead", null, h("tr", null, ["Status", "Description", "Body"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", null, Object.entries(responses || {}).map(([code, r0]) => {
        const r = deref(r0);
        const m = jsonMedia(r.content);
        return h("tr", null, h("td", null, h("code", null, code)), h("td", null, r.description || ""),
          h("td", null, m && m.media.schema ? h("span", { class: "type mono" }, typeLabel(m.media.schema)) : "—"));
      }))));
  }

  function renderTry(method, path, op, params, body, oid) {
    const usable = params.filter((p) => p.in === "path" || p.in === "query" || p.in === "header");
    const inputs = usable.map((p) => {
      const id = oid + "-p-" + slug(p.in + "-" + p.name);
      const ex = p.example ?? deref(p.schema).example;
      return { p, el: h("input", { type: "text", id, name: p.name, required: p.in === "path" || p.required || null,
        placeholder: ex != null ? String(ex) : typeLabel(p.schema), autocomplete: "off", spellcheck: "false" }) };
    });
    let textarea = null;
    if (body) {
      const ex = body.media.example ?? example(body.media.schema);
      textarea = h("textarea", { id: oid + "-body", spellcheck: "false", rows: 8 }, ex === undefined ? "" : JSON.stringify(ex, null, 2));
    }
    const sendBtn = h("button", { type: "submit", class: "primary" }, "Send");
    const result = h("div", { class: "result", "aria-live": "polite" });
    const form = h("form", { novalidate: null },
      inputs.length ? h("div", { class: "grid" }, inputs.map(({ p, el }) => h("div", null,
        h("label", { for: el.id }, p.name, " ", h("span", { class: "note inline" }, "(" + p.in + (p.required || p.in === "path" ? ", required" : "") + ")")), el))) : null,
      textarea ? [h("label", { for: textarea.id }, "Request body (" + body.type + ")"), textarea] : null,
      h("div", { class: "row send" }, sendBtn,
        needsAuth(op) ? h("span", { class: "hint" }, "Sends the bearer token from the top of the page, if set.") : null),
      result);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!form.reportValidity()) return;
      let url = path;
      const query = new URLSearchParams();
      const headers = { Accept: "application/json" };
      for (const { p, el } of inputs) {
        const v = el.value;
        if (p.in === "path") url = url.split("{" + p.name + "}").join(encodeURIComponent(v));
        else if (v !== "" && p.in === "query") query.append(p.name, v);
        else if (v !== "" && p.in === "header") headers[p.name] = v;
      }
      if ([...query].length) url += "?" + query.toString();
      const init = { method: method.toUpperCase(), headers, credentials: "same-origin" };
      if (textarea && textarea.value.trim() !== "") {
        if (/json/i.test(body.type)) {
          try { JSON.parse(textarea.value); } catch (err) {
            result.replaceChildren(h("p", { class: "serr", role: "alert" }, "Body is not valid JSON: " + err.message));
            return;
          }
        }
        headers["Content-Type"] = body.type;
        init.body = textarea.value;
      }
      const token = getToken();
      if (needsAuth(op) && token) headers.Authorization = "Bearer " + token;
      sendBtn.disabled = true;
      result.replaceChildren(h("p", null, "Sending " + init.method + " " + url + " …"));
      const started = performance.now();
      try {
        const res = await fetch(url, init);
        const text = await res.text();
        const ms = Math.round(performance.now() - started);
        let parsed, pretty = text;
        try { parsed = JSON.parse(text); pretty = JSON.stringify(parsed, null, 2); } catch (_) { parsed = undefined; }
        const hdrs = INTERESTING.filter((k) => res.headers.has(k)).map((k) => [h("dt", null, k), h("dd", null, res.headers.get(k))]);
        const access = isObj(parsed) ? (typeof parsed.access === "string" ? parsed.access
          : Object.values(parsed).find((v) => isObj(v) && typeof v.access === "string")?.access) : undefined;
        result.replaceChildren(...[
          h("p", null, h("span", { class: "status s" + String(res.status)[0] }, res.status + " " + (res.statusText || "")),
            h("span", { class: "hint" }, " · " + ms + " ms · " + init.method + " " + url)),
          hdrs.length ? h("dl", { class: "hdrs" }, hdrs) : null,
          text ? h("pre", { tabindex: "0", "aria-label": "Response body" }, h("code", null, pretty)) : h("p", { class: "hint" }, "(empty body)"),
          access ? h("button", { type: "button", onclick: (ev) => { setToken(access); ev.currentTarget.textContent = "Token in use ✓"; } }, "Use this access token") : null].filter(Boolean));
      } catch (err) {
        result.replaceChildren(h("p", { class: "serr", role: "alert" }, "Request failed: " + (err && err.message ? err.message : String(err))));
      } finally {
        sendBtn.disabled = false;
      }
    });
    return h("details", { class: "try" }, h("summary", null, "Try it"), form);
  }

  function renderOperation(method, path, op, pathItem) {
    const oid = "op-" + slug(op.operationId || method + "-" + path);
    const byKey = new Map();
    for (const p of [...(pathItem.parameters || []), ...(op.parameters || [])].map(deref)) if (p.name) byKey.set(p.in + ":" + p.name, p);
    const params = [...byKey.values()];
    const rb = op.requestBody ? deref(op.requestBody) : null;
    const body = rb ? jsonMedia(rb.content) : null;
    const art = h("article", { class: "op", id: oid, "data-search": (method + " " + path + " " + (op.summary || "") + " " + (op.operationId || "")).toLowerCase() },
      h("h3", null, h("span", { class: "badge m-" + slug(method) }, method.toUpperCase()), h("span", { class: "path" }, path),
        op.summary ? h("span", { class: "summary" }, op.summary) : null,
        needsAuth(op) ? h("span", { class: "lock", title: "Requires Authorization: Bearer <token>" }, "bearer auth") : null,
        op.deprecated ? h("span", { class: "lock" }, "deprecated") : null),
      op.description ? h("p", { class: "desc" }, op.description) : null,
      params.length ? [h("h4", null, "Parameters"), renderParams(params)] : null,
      body ? [h("h4", null, "Request body ", body.media.schema && body.media.schema.$ref ? h("span", { class: "ref" }, refName(body.media.schema.$ref)) : null, rb.required ? " (required)" : ""),
        rb.description ? h("p", { class: "desc" }, rb.description) : null,
        renderSchema(body.media.schema, 0),
        h("details", { class: "nested" }, h("summary", null, "Example JSON"), h("pre", null, h("code", null, JSON.stringify(body.media.example ?? example(body.media.schema), null, 2))))] : null,
      h("h4", null, "Responses"), renderResponses(op.responses),
      renderTry(method, path, op, params, body, oid));
    return art;
  }

  function render() {
    const info = doc.info || {};
    document.getElementById("title").textContent = info.title || "API documentation";
    document.title = (info.title || "API") + " — docs";
    const ver = document.getElementById("version");
    if (info.version) { ver.textContent = "v" + info.version; ver.hidden = false; }
    document.getElementById("description").textContent = info.description || "";
    const groups = new Map();
    for (const t of doc.tags || []) if (t && t.name) groups.set(t.name, { meta: t, ops: [] });
    for (const [path, item0] of Object.entries(doc.paths || {})) {
      const item = deref(item0);
      for (const method of METHODS) {
        const op = item[method];
        if (!isObj(op)) continue;
        const tag = (Array.isArray(op.tags) && op.tags[0]) || "default";
        if (!groups.has(tag)) groups.set(tag, { meta: { name: tag }, ops: [] });
        groups.get(tag).ops.push(renderOperation(method, path, op, item));
      }
    }
    const main = document.getElementById("main");
    const toc = document.getElementById("toc");
    main.replaceChildren();
    for (const [name, g] of groups) {
      if (!g.ops.length) continue;
      const id = "tag-" + slug(name);
      toc.append(h("li", null, h("a", { href: "#" + id }, name)));
      main.append(h("section", { "aria-labelledby": id },
        h("h2", { id }, name), g.meta.description ? h("p", { class: "desc" }, g.meta.description) : null, g.ops));
    }
    if (!main.children.length) main.append(h("p", null, "This document lists no operations."));
    if (location.hash) { const target = document.getElementById(decodeURIComponent(location.hash.slice(1))); if (target) target.scrollIntoView(); }
  }

  document.getElementById("filter").addEventListener("input", (e) => {
    const q = e.target.value.trim().toLowerCase();
    for (const art of document.querySelectorAll("article.op")) art.hidden = q !== "" && !art.dataset.search.includes(q);
    for (const sec of document.querySelectorAll("main section")) sec.hidden = !sec.querySelector("article.op:not([hidden])");
  });

  fetch("/openapi.json", { headers: { Accept: "application/json" } })
    .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then((d) => { doc = isObj(d) ? d : {}; render(); })
    .catch((err) => {
      document.getElementById("main").replaceChildren(
        h("p", { class: "serr", role: "alert" }, "Could not load /openapi.json: " + (err && err.message ? err.message : String(err))));
    });
})();
