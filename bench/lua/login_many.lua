-- Sign-in load where every request signs in a different account, each at most once per run.
-- Used for the equal-hash-cost row: accounts whose stored hash is Django's pbkdf2_sha256, which
-- Tessera rehashes to Argon2id on the first successful sign-in, so no account may sign in twice.
-- Thread k of n takes accounts k, k+n, k+2n, ...; past LOGIN_USERS it sends a login for an
-- account that does not exist (shows up as non-2xx) and counts it as 'exhausted'.
-- env: WRK_PATH, LOGIN_BODY (JSON with {n}, replaced by the zero-padded account number),
--      LOGIN_FIRST (first account number, default 0), LOGIN_USERS (how many accounts from it),
--      LOGIN_PAD (digits, default 5), WRK_THREADS
local path = os.getenv("WRK_PATH") or "/"
local tmpl = os.getenv("LOGIN_BODY")
local first = tonumber(os.getenv("LOGIN_FIRST") or "0")
local users = tonumber(os.getenv("LOGIN_USERS") or "0")
local pad = "%0" .. (os.getenv("LOGIN_PAD") or "5") .. "d"
local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local i = 0
exhausted, sent = 0, 0
local hdrs = { ["Content-Type"] = "application/json" }

function request()
  local n = tid + i * nthreads
  i = i + 1
  local name
  if n >= users then
    exhausted = exhausted + 1
    name = "exhausted"
  else
    sent = sent + 1
    name = string.format(pad, first + n)
  end
  return wrk.format("POST", path, hdrs, (tmpl:gsub("{n}", name)))
end

function done(summary, latency, requests)
  local ex, s = 0, 0
  for _, t in ipairs(threads) do
    ex = ex + (t:get("exhausted") or 0)
    s = s + (t:get("sent") or 0)
  end
  io.write(string.format("login_accounts_used: %d\nlogin_exhausted: %d\n", s, ex))
end
