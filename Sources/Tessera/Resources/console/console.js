// Tessera's admin console: a client of the JSON API, like any app. No framework and no build step;
// every string from the server reaches the page through textContent, never as markup. All of it
// lives in this one function's scope: no global name another script on the origin could reach.
(() => {
"use strict";

// The tokens live in this closure only: not in localStorage, sessionStorage or a cookie, where
// another script on the origin could read them. A reload signs the operator out, by design.
const session = (() => {
  let tokens = null;
  let refreshing = null;
  return {
    get access() { return tokens && tokens.access; },
    get signedIn() { return tokens !== null; },
    keep(grant) { tokens = { access: grant.access, refresh: grant.refresh }; },
    forget() { tokens = null; },
    // A call refused with access token `used`: refreshes once however many calls meet it (a refresh
    // token is single-use), or not at all when a newer token has come meanwhile. Only a refused
    // refresh signs the operator out; a refresh that failed otherwise (429, 5xx, the network)
    // keeps the tokens for the next try. A refresh that finishes after a sign-out or another
    // sign-in changes nothing.
    refresh(used) {
      if (!tokens) return Promise.resolve(false);
      if (tokens.access !== used) return Promise.resolve(true);
      if (!refreshing) {
        const current = tokens;
        refreshing = fetch("/api/v1/auth/token/refresh", {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh: current.refresh }),
          credentials: "omit", cache: "no-store",
        }).then(async (res) => {
          if (tokens !== current) return false;
          if (res.status === 401) { tokens = null; return false; }
          if (!res.ok) return false;
          const grant = await res.json();
          if (tokens !== current) return false;
          tokens = { access: grant.access, refresh: grant.refresh };
          return true;
        }).catch(() => false).finally(() => { refreshing = null; });
      }
      return refreshing;
    },
  };
})();

class APIError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `The server answered ${status}.`);
    this.status = status;
    this.body = body || {};
  }
  get code() { return this.body.code; }
  get fields() { return this.body.fields || {}; }
}

async function api(method, path, body, extraHeaders) {
  let used = null;
  const send = () => {
    const headers = Object.assign({ Accept: "application/json" }, extraHeaders || {});
    if (body !== undefined) headers["Content-Type"] = "application/json";
    used = session.access;
    if (used) headers.Authorization = `Bearer ${used}`;
    return fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit", cache: "no-store",
    });
  };
  let res = await send();
  if (res.status === 401 && used && (await session.refresh(used))) res = await send();
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (res.status === 401 && used) {
    session.forget();
    show();
    flash("Your session has ended; sign in again.", "error");
    throw new APIError(401, data);
  }
  if (!res.ok) throw new APIError(res.status, data);
  return data;
}

// h("a", {href: "#/users", class: "x", onclick: fn}, "text", child…)
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const main = () => document.getElementById("main");

function flash(text, kind) {
  const box = document.getElementById("flash");
  box.replaceChildren(h("div", { class: `note ${kind || "ok"}` }, text));
}

function clearFlash() { document.getElementById("flash").replaceChildren(); }

function describe(error) {
  if (!(error instanceof APIError)) return `The console could not reach the server (${error.message}).`;
  const fields = Object.entries(error.fields).map(([name, problems]) => `${name}: ${[].concat(problems).join(" ")}`);
  return [error.message, error.code ? `(${error.code})` : "", ...fields].filter(Boolean).join(" ");
}

// Runs an action from a button or form, reporting what happened, then redraws the page.
async function act(what, run, question) {
  if (question && !window.confirm(question)) return;
  try {
    await run();
    flash(what, "ok");
    await show({ keepFlash: true });
  } catch (error) {
    flash(describe(error), "error");
  }
}

const when = (text) => (text ? new Date(text).toLocaleString() : "—");
const badge = (status) => h("span", { class: `badge ${status}` }, status);
const userName = (u) => u.email || u.username || u.phone || u.id;
const fullName = (u) => [u.first_name, u.middle_name, u.last_name].filter(Boolean).join(" ");

function table(columns, rows, emptyText) {
  if (!rows.length) return h("p", { class: "empty" }, emptyText || "Nothing here.");
  return h("table", {},
    h("thead", {}, h("tr", {}, columns.map(([title, , cls]) => h("th", { class: cls }, title)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell, cls]) => h("td", { class: cls }, cell(row)))))));
}

// Links to the previous and next page of a list; `name` is the query parameter holding its page.
function pager(page, params, base, name) {
  const key = name || "page";
  const pages = Math.max(1, Math.ceil(page.count / 20));
  const current = Number(params.get(key) || 1);
  const link = (n, text) => {
    const next = new URLSearchParams(params);
    next.set(key, String(n));
    return h("a", { href: `${base}?${next}` }, text);
  };
  return h("div", { class: "pager" },
    current > 1 ? link(current - 1, "← Previous") : null,
    h("span", { class: "muted" }, `Page ${current} of ${pages} · ${page.count} in all`),
    current < pages ? link(current + 1, "Next →") : null);
}

// Query parameters for a list call: the page's own filters, twenty a page.
function listQuery(params, names) {
  const query = new URLSearchParams({ page_size: "20" });
  for (const name of names.concat(["page"])) if (params.get(name)) query.set(name, params.get(name));
  return query;
}

// A filter bar whose submit rewrites the location's query, so a filtered page can be reloaded.
function filterBar(base, params, controls) {
  return h("form", {
    class: "bar",
    onsubmit: (event) => {
      event.preventDefault();
      const query = new URLSearchParams();
      for (const [name, value] of new FormData(event.target)) if (value) query.set(name, value);
      location.hash = `${base}?${query}`;
    },
  }, controls, h("button", { type: "submit" }, "Filter"));
}

const field = (label, name, props) => h("label", {}, label, h("input", Object.assign({ name }, props || {})));
function choice(label, name, options, selected) {
  return h("label", {}, label,
    h("select", { name }, options.map(([value, text]) => h("option", { value, selected: value === (selected || "") }, text))));
}

// Every entry of a list, page after page (up to a thousand): for what is shown or saved whole, such
// as the roles a user holds, where a first page alone would drop the rest on saving.
async function everything(path) {
  const entries = [];
  for (let page = 1; page <= 10; page++) {
    const answer = await api("GET", `${path}?page_size=100&page=${page}`);
    entries.push(...answer.results);
    if (!answer.next) break;
  }
  return entries;
}

// ---- What the signed-in operator may see ----------------------------------------------------

let me = null;
let grants = null;

function can(resource, action) {
  if (!grants) return false;
  if (grants.admin) return true;
  return grants.permissions.some((p) => p.resource === resource && (p.action === action || p.action === "all"));
}

const sections = [
  ["users", "Users", () => can("users", "read")],
  ["registrations", "Registrations", () => can("registrations", "read")],
  ["rbac", "Roles & permissions", () => ["resources", "actions", "permissions", "roles"].every((r) => can(r, "read"))],
  ["audit", "Audit log", () => can("audit", "read")],
  ["marketplace", "Marketplace", () => can("users", "read")],
  ["balances", "Balances", () => can("balances", "read")],
];

function drawChrome(current) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  nav.hidden = who.hidden = !me;
  if (!me) return;
  nav.replaceChildren(...sections.filter(([, , allowed]) => allowed())
    .map(([name, title]) => h("a", { href: `#/${name}`, class: name === current ? "current" : null }, title)));
  document.getElementById("who-name").textContent = userName(me);
}

// ---- Sign in --------------------------------------------------------------------------------

function signInPage(mfaToken) {
  const error = h("div", { role: "alert" });
  const fail = (e) => error.replaceChildren(h("div", { class: "note error" }, describe(e)));
  const done = async (grant) => {
    session.keep(grant);
    clearFlash();
    try {
      await loadOperator();
    } catch (e) {
      session.forget();
      throw e;
    }
    if (location.hash === "" || location.hash === "#/" || location.hash === "#/signin") location.hash = firstSection();
    else await show();
  };
  if (mfaToken) {
    return h("form", {
      class: "signin stack", id: "mfa-form",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          await done(await api("POST", "/api/v1/auth/token/mfa", { mfa_token: mfaToken, code: event.target.code.value.trim() }));
        } catch (e) { fail(e); }
      },
    }, h("h1", {}, "Two-factor code"), error,
    field("Code from your authenticator app, or a recovery code", "code", { autocomplete: "one-time-code", required: true, autofocus: true }),
    h("button", { type: "submit" }, "Continue"),
    h("button", { type: "button", class: "quiet", onclick: () => main().replaceChildren(signInPage()) }, "Start over"));
  }
  return h("form", {
    class: "signin stack", id: "signin-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const form = event.target;
      try {
        await done(await api("POST", "/api/v1/auth/token", { login: form.login.value.trim(), password: form.password.value }));
      } catch (e) {
        if (e instanceof APIError && e.code === "mfa_required" && e.body.mfa_token) {
          main().replaceChildren(signInPage(e.body.mfa_token));
        } else fail(e);
      }
    },
  }, h("h1", {}, "Sign in"), error,
  field("E-mail, phone or username", "login", { autocomplete: "username", required: true, autofocus: true }),
  field("Password", "password", { type: "password", autocomplete: "current-password", required: true }),
  h("button", { type: "submit" }, "Sign in"));
}

async function loadOperator() {
  [me, grants] = await Promise.all([api("GET", "/api/v1/me"), api("GET", "/api/v1/me/permissions")]);
}

function firstSection() {
  const first = sections.find(([, , allowed]) => allowed());
  return first ? `#/${first[0]}` : "#/none";
}

// ---- Users ----------------------------------------------------------------------------------

const statuses = [["", "Any status"], ["active", "active"], ["pending", "pending"], ["rejected", "rejected"], ["disabled", "disabled"]];

async function allRoles() {
  return can("roles", "read") ? everything("/api/v1/roles") : [];
}

async function usersPage(params) {
  const [page, roles] = await Promise.all([
    api("GET", `/api/v1/users?${listQuery(params, ["q", "status", "role"])}`), allRoles(),
  ]);
  return [
    h("h1", {}, "Users"),
    filterBar("#/users", params, [
      field("Search", "q", { value: params.get("q") || "", placeholder: "e-mail, username, phone, name", type: "search" }),
      choice("Status", "status", statuses, params.get("status")),
      choice("Role", "role", [["", "Any role"]].concat(roles.map((r) => [r.code_name, r.name])), params.get("role")),
    ]),
    table([
      ["User", (u) => h("a", { href: `#/users/${u.id}` }, userName(u))],
      ["Name", fullName],
      ["Status", (u) => badge(u.status)],
      ["Kind", (u) => u.role],
      ["Roles", (u) => u.roles.join(", ")],
      ["Joined", (u) => when(u.date_joined)],
      ["Last sign-in", (u) => when(u.last_login)],
    ], page.results, "No user matches."),
    pager(page, params, "#/users"),
  ];
}

async function userPage(id) {
  // Each part only for an operator whose permissions allow it: one refused call must not cost the page.
  const none = Promise.resolve(null);
  const [user, roles, sessions, bookings] = await Promise.all([
    api("GET", `/api/v1/users/${id}`), allRoles(),
    can("sessions", "read") ? api("GET", `/api/v1/users/${id}/sessions?page_size=100`) : none,
    can("bookings", "all") ? api("GET", `/api/v1/users/${id}/bookings?page_size=20`) : none,
  ]);
  const statusForm = h("form", {
    class: "bar", id: "status-form",
    onsubmit: (event) => {
      event.preventDefault();
      const status = event.target.status.value;
      act(`Status set to ${status}.`, () => api("PATCH", `/api/v1/users/${id}`, { status }));
    },
  }, choice("Status", "status", statuses.slice(1), user.status), h("button", { type: "submit" }, "Save status"));
  // Roles the list does not show (none, while it holds every page) are kept, never dropped by a save.
  const listed = new Set(roles.map((role) => role.code_name));
  const rolesForm = h("form", {
    id: "roles-form",
    onsubmit: (event) => {
      event.preventDefault();
      const chosen = [...event.target.querySelectorAll("input:checked")].map((box) => box.value);
      const kept = user.roles.filter((role) => !listed.has(role));
      act("Roles saved.", () => api("PUT", `/api/v1/users/${id}/roles`, { roles: chosen.concat(kept) }));
    },
  }, h("div", { class: "checks" }, roles.map((role) => h("label", {},
    h("input", { type: "checkbox", name: "role", value: role.code_name, checked: user.roles.includes(role.code_name) }), role.name))),
  h("button", { type: "submit" }, "Save roles"));
  return [
    h("p", {}, h("a", { href: "#/users" }, "← Users")),
    h("h1", {}, userName(user), " ", badge(user.status)),
    h("dl", { class: "fields" },
      [["Id", h("span", { class: "mono" }, user.id)], ["Name", fullName(user) || "—"], ["E-mail", user.email || "—"],
        ["E-mail verified", user.email_verified ? "yes" : "no"], ["Phone", user.phone || "—"],
        ["Phone verified", user.phone_verified ? "yes" : "no"], ["Username", user.username || "—"], ["Kind", user.role],
        ["Roles", user.roles.join(", ") || "—"], ["Joined", when(user.date_joined)], ["Last sign-in", when(user.last_login)]]
        .flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
    can("balances", "read") ? h("p", {}, h("a", { href: `#/balances/${id}` }, "Balance and ledger →")) : null,
    can("users", "update") ? [h("h2", {}, "Status"), statusForm] : null,
    can("roles", "read") && can("users", "update") ? [h("h2", {}, "Roles"), rolesForm] : null,
    sessions ? [
      h("h2", {}, `Sessions (${sessions.count})`),
      table([
        ["Started", (s) => when(s.created_at)], ["Last used", (s) => when(s.last_used_at)], ["Expires", (s) => when(s.expires_at)],
        ["Address", (s) => s.ip_address], ["Device", (s) => s.user_agent],
      ], sessions.results, "No live session."),
      sessions.count && can("sessions", "delete")
        ? h("button", {
          type: "button", class: "danger", id: "end-sessions",
          onclick: () => act("Every session ended.", () => api("POST", `/api/v1/users/${id}/sessions/revoke-all`, {})),
        }, "End every session")
        : null,
    ] : null,
    bookings ? [h("h2", {}, `Bookings (${bookings.count})`), bookingsTable(bookings.results, id)] : null,
  ];
}

function bookingsTable(bookings, partyID) {
  return table([
    ["Start", (b) => when(b.start)], ["Service", (b) => b.service_name], ["Price", (b) => b.price, "num"],
    ["As", (b) => (b.client === partyID ? "client" : "specialist")],
    ["With", (b) => {
      const other = b.client === partyID ? b.specialist : b.client;
      return h("a", { href: `#/users/${other}`, class: "mono" }, other.slice(0, 8));
    }],
    ["Status", (b) => badge(b.status)],
  ], bookings, "No booking.");
}

// ---- Registrations --------------------------------------------------------------------------

async function registrationsPage(params) {
  const status = params.get("status") || "pending";
  const page = await api("GET", `/api/v1/registrations?${listQuery(params, ["status"])}`);
  const decide = (user) => h("div", { class: "inline" },
    h("button", {
      type: "button", class: "accept",
      onclick: () => act(`${userName(user)} accepted.`, () => api("PATCH", `/api/v1/registrations/${user.id}`, { action: "accept" })),
    }, "Accept"),
    h("form", {
      class: "inline reject",
      onsubmit: (event) => {
        event.preventDefault();
        const reason = event.target.reason.value.trim();
        act(`${userName(user)} rejected.`, () => api("PATCH", `/api/v1/registrations/${user.id}`, reason ? { action: "reject", reason } : { action: "reject" }));
      },
    }, h("input", { name: "reason", placeholder: "Reason (sent to them)", "aria-label": "Reason" }),
    h("button", { type: "submit", class: "danger" }, "Reject")));
  return [
    h("h1", {}, "Registrations"),
    filterBar("#/registrations", params, [choice("Status", "status", [["pending", "pending"], ["rejected", "rejected"]], status)]),
    table([
      ["User", (u) => h("a", { href: `#/users/${u.id}` }, userName(u))], ["Name", fullName], ["Kind", (u) => u.role],
      ["Signed up", (u) => when(u.date_joined)], ["Decision", (u) => (can("registrations", "approve") ? decide(u) : badge(u.status))],
    ], page.results, status === "pending" ? "Nobody is waiting." : "None."),
    pager(page, params, "#/registrations"),
  ];
}

// ---- RBAC catalogue -------------------------------------------------------------------------

function catalogueForm(resource, fields, toBody) {
  return h("form", {
    class: "bar", id: `new-${resource}`,
    onsubmit: (event) => {
      event.preventDefault();
      act(`Created in ${resource}.`, () => api("POST", `/api/v1/${resource}`, toBody(event.target)));
    },
  }, fields, h("button", { type: "submit" }, "Create"));
}

function deleteButton(resource, entry, label) {
  if (!can(resource, "delete")) return null;
  return h("button", {
    type: "button", class: "quiet",
    onclick: () => act(`${label} deleted.`, () => api("DELETE", `/api/v1/${resource}/${entry.id}`), `Delete ${label}?`),
  }, "Delete");
}

async function rbacPage() {
  const get = (path) => everything(`/api/v1/${path}`);
  const [resources, actions, permissions, roles] = await Promise.all([get("resources"), get("actions"), get("permissions"), get("roles")]);
  const permissionName = new Map(permissions.map((p) => [p.id, `${p.resource}:${p.action}`]));
  const named = (resource) => [
    table([
      ["Code", (e) => h("span", { class: "mono" }, e.code_name)], ["Name", (e) => e.name], ["Description", (e) => e.description],
      ["", (e) => (e.built_in ? h("span", { class: "muted" }, "built in") : deleteButton(resource, e, e.code_name))],
    ], resource === "resources" ? resources : actions),
    can(resource, "create")
      ? catalogueForm(resource, [field("Code", "code_name", { required: true, pattern: "[a-z][a-z0-9_.\\-]{0,63}" }), field("Name", "name", { required: true }),
        field("Description", "description")], (f) => ({ code_name: f.code_name.value, name: f.name.value, description: f.description.value }))
      : null,
  ];
  return [
    h("h1", {}, "Roles & permissions"),
    h("div", { class: "columns" },
      h("section", {}, h("h2", {}, `Resources (${resources.length})`), named("resources")),
      h("section", {}, h("h2", {}, `Actions (${actions.length})`), named("actions"))),
    h("h2", {}, `Permissions (${permissions.length})`),
    // One row a resource, its actions as chips: sixty-odd pairs stay readable.
    table([
      ["Resource", ([resource]) => h("span", { class: "mono" }, resource)],
      ["Actions", ([, pairs]) => h("div", { class: "inline" }, pairs.map((p) => (can("permissions", "delete")
        ? h("button", {
          type: "button", class: "chip", title: `Delete the permission ${p.resource}:${p.action}`,
          onclick: () => act(`${p.resource}:${p.action} deleted.`, () => api("DELETE", `/api/v1/permissions/${p.id}`),
            `Delete the permission ${p.resource}:${p.action}? Roles holding it lose it.`),
        }, p.action, " ×")
        : h("span", { class: "badge" }, p.action))))],
    ], [...Map.groupBy(permissions, (p) => p.resource)]),
    can("permissions", "create")
      ? catalogueForm("permissions", [
        choice("Resource", "resource", resources.map((r) => [r.code_name, r.code_name])),
        choice("Action", "action", actions.map((a) => [a.code_name, a.code_name])),
      ], (f) => ({ resource: f.resource.value, action: f.action.value }))
      : null,
    h("h2", {}, `Roles (${roles.length})`),
    table([
      ["Code", (r) => h("span", { class: "mono" }, r.code_name)], ["Name", (r) => r.name],
      ["Permissions", (r) => r.permissions.map((id) => permissionName.get(id) || id).join(", ") || "—"],
      ["", (r) => (r.built_in ? h("span", { class: "muted" }, "built in") : deleteButton("roles", r, r.code_name))],
    ], roles),
    can("roles", "create")
      ? catalogueForm("roles", [
        field("Code", "code_name", { required: true }), field("Name", "name", { required: true }),
        h("div", { class: "checks" }, permissions.map((p) => h("label", {},
          h("input", { type: "checkbox", name: "permission", value: p.id }), `${p.resource}:${p.action}`))),
      ], (f) => ({
        code_name: f.code_name.value, name: f.name.value,
        permissions: [...f.querySelectorAll("input[name=permission]:checked")].map((box) => box.value),
      }))
      : null,
  ];
}

// ---- Audit log ------------------------------------------------------------------------------

async function auditPage(params) {
  const page = await api("GET", `/api/v1/audit?${listQuery(params, ["event", "user_id"])}`);
  const who = (id) => (id ? h("a", { href: `#/users/${id}`, class: "mono" }, id.slice(0, 8)) : "—");
  return [
    h("h1", {}, "Audit log"),
    filterBar("#/audit", params, [
      field("Event", "event", { value: params.get("event") || "", placeholder: "login.failed" }),
      field("User id", "user_id", { value: params.get("user_id") || "" }),
    ]),
    table([
      ["When", (e) => when(e.at)], ["Event", (e) => h("span", { class: "mono" }, e.event)], ["User", (e) => who(e.user_id)],
      ["By", (e) => who(e.actor_id)], ["Address", (e) => e.ip_address],
      ["Detail", (e) => Object.entries(e.detail).map(([k, v]) => `${k}=${v}`).join(" ")],
    ], page.results, "No event matches."),
    pager(page, params, "#/audit"),
  ];
}

// ---- Marketplace ----------------------------------------------------------------------------

async function marketplacePage(params) {
  const serviceQuery = new URLSearchParams({ page_size: "20", ordering: "-created_at" });
  if (params.get("name")) serviceQuery.set("name", params.get("name"));
  if (params.get("services_page")) serviceQuery.set("page", params.get("services_page"));
  const [specialists, services] = await Promise.all([
    api("GET", `/api/v1/specialists?${listQuery(params, ["q", "city"])}`), api("GET", `/api/v1/services?${serviceQuery}`),
  ]);
  const names = new Map(specialists.results.map((s) => [s.id, s.full_name]));
  return [
    h("h1", {}, "Marketplace"),
    h("h2", {}, `Specialists (${specialists.count})`),
    filterBar("#/marketplace", params, [
      field("Specialist", "q", { value: params.get("q") || "", type: "search" }), field("City", "city", { value: params.get("city") || "" }),
      field("Service name", "name", { value: params.get("name") || "" }),
    ]),
    table([
      ["Name", (s) => h("a", { href: `#/users/${s.id}` }, s.full_name || s.id)], ["City", (s) => s.city],
      ["Experience", (s) => `${s.experience_years} y`, "num"], ["About", (s) => s.bio],
    ], specialists.results, "No specialist matches."),
    pager(specialists, params, "#/marketplace"),
    h("h2", {}, `Services (${services.count})`),
    table([
      ["Service", (s) => s.name], ["Specialist", (s) => h("a", { href: `#/users/${s.specialist}` }, names.get(s.specialist) || s.specialist.slice(0, 8))],
      ["Price", (s) => s.price, "num"], ["Minutes", (s) => s.duration_minutes, "num"], ["Listed", (s) => when(s.created_at)],
    ], services.results, "No service matches."),
    pager(services, params, "#/marketplace", "services_page"),
    h("p", { class: "muted" }, "A user's bookings are on their page."),
  ];
}

// ---- Balances -------------------------------------------------------------------------------

async function balancesPage(params) {
  const q = params.get("q");
  const page = q ? await api("GET", `/api/v1/users?${listQuery(params, ["q"])}`) : null;
  return [
    h("h1", {}, "Balances"),
    filterBar("#/balances", params, [field("Find a user", "q", { value: q || "", type: "search", placeholder: "e-mail, username, phone, name" })]),
    page
      ? [table([["User", (u) => h("a", { href: `#/balances/${u.id}` }, userName(u))], ["Name", fullName], ["Status", (u) => badge(u.status)]],
        page.results, "No user matches."), pager(page, params, "#/balances")]
      : h("p", { class: "muted" }, "Find a user to see their balances and ledger."),
  ];
}

async function balancePage(id) {
  const [user, balance, ledger] = await Promise.all([
    api("GET", `/api/v1/users/${id}`), api("GET", `/api/v1/users/${id}/balance`),
    api("GET", `/api/v1/users/${id}/balance/transactions?page_size=50`),
  ]);
  // One key per change this form was asked for: the same change sent again (an answer lost on the
  // way, the operator trying again) carries the same key and applies once; another amount or action
  // is another change. A success draws a new form, and with it a new key.
  let attempt = null;
  const change = h("form", {
    class: "bar", id: "balance-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const f = event.target;
      const body = { action: f.action.value, value_type: f.value_type.value, value: f.value.value.trim(), user_id: id };
      const text = JSON.stringify(body);
      if (!attempt || attempt.text !== text) attempt = { text, key: crypto.randomUUID() };
      const button = f.querySelector("button[type=submit]");
      button.disabled = true;
      await act("Balance changed.", () => api("PATCH", "/api/v1/balance", body, { "Idempotency-Key": attempt.key }));
      button.disabled = false;
    },
  }, choice("Action", "action", [["in", "credit (in)"], ["out", "take out (out)"], ["convert", "convert real → virtual (+5%)"]]),
  choice("Balance", "value_type", [["real", "real"], ["virtual", "virtual"]]),
  field("Amount", "value", { required: true, inputmode: "decimal", placeholder: "100.00" }),
  h("button", { type: "submit" }, "Apply"));
  return [
    h("p", {}, h("a", { href: `#/users/${id}` }, `← ${userName(user)}`)),
    h("h1", {}, `Balances of ${userName(user)}`),
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "muted" }, "Real"), h("div", { class: "value", id: "real" }, balance.real)),
      h("div", { class: "card" }, h("div", { class: "muted" }, "Virtual"), h("div", { class: "value", id: "virtual" }, balance.virtual))),
    can("balances", "update") ? change : null,
    h("h2", {}, `Ledger (${ledger.count})`),
    table([
      ["#", (e) => e.sequence, "num"], ["When", (e) => when(e.created_at)], ["Action", (e) => `${e.action} ${e.value_type}`],
      ["Amount", (e) => e.value, "num"], ["Real", (e) => `${e.real_change} → ${e.real_after}`, "num"],
      ["Virtual", (e) => `${e.virtual_change} → ${e.virtual_after}`, "num"],
      ["By", (e) => h("a", { href: `#/users/${e.actor}`, class: "mono" }, e.actor.slice(0, 8))],
    ], ledger.results, "No entry yet."),
  ];
}

// ---- Router ---------------------------------------------------------------------------------

const routes = [
  [/^#\/users$/, (m, p) => usersPage(p), "users"],
  [/^#\/users\/([0-9a-f-]{36})$/, (m) => userPage(m[1]), "users"],
  [/^#\/registrations$/, (m, p) => registrationsPage(p), "registrations"],
  [/^#\/rbac$/, () => rbacPage(), "rbac"],
  [/^#\/audit$/, (m, p) => auditPage(p), "audit"],
  [/^#\/marketplace$/, (m, p) => marketplacePage(p), "marketplace"],
  [/^#\/balances$/, (m, p) => balancesPage(p), "balances"],
  [/^#\/balances\/([0-9a-f-]{36})$/, (m) => balancePage(m[1]), "balances"],
];

let drawing = 0;

async function show(options) {
  const turn = ++drawing;
  if (!(options && options.keepFlash)) clearFlash();
  if (!session.signedIn) {
    me = grants = null;
    drawChrome(null);
    main().replaceChildren(signInPage());
    return;
  }
  const [path, query] = location.hash.split("?");
  const route = routes.find(([pattern]) => pattern.test(path));
  // A location this account may not see (a link, or another operator's page before a reload) leads
  // to its first section, not to a refused call.
  const section = route && sections.find(([name]) => name === route[2]);
  if (!route || !section[2]()) {
    drawChrome("");
    main().replaceChildren(h("h1", {}, "Nothing to administer"),
      h("p", {}, "This account holds none of the permissions the console's pages need."));
    if (path !== "#/none" && firstSection() !== "#/none") location.hash = firstSection();
    return;
  }
  drawChrome(route[2]);
  main().setAttribute("aria-busy", "true");
  try {
    const content = await route[1](path.match(route[0]), new URLSearchParams(query || ""));
    if (turn === drawing) {
      main().replaceChildren(...[].concat(content).flat().filter(Boolean));
      main().dataset.view = location.hash;
    }
  } catch (error) {
    if (turn === drawing && session.signedIn) {
      main().replaceChildren(h("h1", {}, "Could not load this page"), h("p", { class: "note error" }, describe(error)));
      main().dataset.view = location.hash;
    }
  } finally {
    main().removeAttribute("aria-busy");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("sign-out").addEventListener("click", async () => {
    try { await api("POST", "/api/v1/auth/logout"); } catch (error) { /* the session ends here either way */ }
    session.forget();
    location.hash = "";
    await show();
  });
  window.addEventListener("hashchange", () => show());
  show();
});
})();
