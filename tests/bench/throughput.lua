-- wrk script of tests/bench/throughput.py (make bench).
--
-- Every request is the same signed envelope with a fresh caller nonce:
-- the driver computed the (nonce, signature) pairs beforehand for one
-- fixed timestamp, one file per wrk thread (PAIRS-<thread>.txt), one
-- line "NONCE SIGNATURE" each (32 and 64 characters).  A thread walks its
-- own file and never reuses a line: when they are used up it stops (the
-- run then has "exhausted" > 0 and its rate is not a measurement; what
-- is sent meanwhile is an unsigned GET that fails, it reuses no pair).
--
-- A body with a msgid of its own per request (a journaled transaction,
-- tests/bench/deployment.py) has "@@@@@@@@" where the msgid's last 8
-- digits go, and its lines are "NONCE SIGNATURE DIGITS": the driver
-- signed the body with those digits in place.
--
--   wrk -s throughput.lua URL -- PAIRS BODY CALLER TIMESTAMP
--
-- done() prints one line for the driver:
--   WRKRESULT requests= duration_us= p50_us= p99_us= ok= non200=
--   badbody= exhausted= msgid_cap= connect= read= write= timeout=
--   statuses=S:N,...

local counter = 0
local threads = {}

function setup(thread)
    thread:set("id", counter)
    table.insert(threads, thread)
    counter = counter + 1
end


-- per thread (init/request/response run in the thread's own Lua state)

local lines = {}
local parts, fields = {}, {}
local next_pair, npairs = 1, 0

ok, non200, badbody, exhausted, msgid_cap = 0, 0, 0, 0, 0
statuses = {}

local function read_file(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("*a")
    f:close()
    return s
end

function init(args)
    local pairs_prefix, body_path, caller, ts = args[1], args[2], args[3],
                                                args[4]
    local body = read_file(body_path)

    -- the request, with markers where the nonce, the signature and
    -- the msgid's digits (in the body, if there) go: parts[1] field[1]
    -- parts[2] ... in request order
    local req = wrk.format("POST", nil, {
        ["Content-Type"] = "application/json",
        ["X-Yibao-Caller"] = caller,
        ["X-Yibao-Timestamp"] = ts,
        ["X-Yibao-Nonce"] = "@@NONCE@@",
        ["X-Yibao-Signature"] = "@@SIGNATURE@@",
    }, body)
    local marks = {}
    local a, b = req:find("@@NONCE@@", 1, true)
    marks[#marks + 1] = { a, b, 1 }
    a, b = req:find("@@SIGNATURE@@", 1, true)
    marks[#marks + 1] = { a, b, 2 }
    local eoh = req:find("\r\n\r\n", 1, true)
    a, b = req:find("@@@@@@@@", eoh, true)
    if a then
        marks[#marks + 1] = { a, b, 3 }
    end
    -- header order is not fixed: keep the pieces in request order
    table.sort(marks, function(x, y) return x[1] < y[1] end)
    local from = 1
    for i, m in ipairs(marks) do
        parts[i] = req:sub(from, m[1] - 1)
        fields[i] = m[3]
        from = m[2] + 1
    end
    parts[#marks + 1] = req:sub(from)

    for line in io.lines(pairs_prefix .. "-" .. id .. ".txt") do
        npairs = npairs + 1
        lines[npairs] = line
    end
end

function request()
    local k = next_pair
    if k > npairs then
        -- nothing is ever reused: count it and stop this thread
        -- (a GET that no case answers with 200; counted apart)
        exhausted = exhausted + 1
        wrk.thread:stop()
        return wrk.format("GET", "/bench-pairs-exhausted")
    end
    next_pair = k + 1
    local line = lines[k]
    lines[k] = nil
    local vals = { line:sub(1, 32), line:sub(34, 97), line:sub(99, 106) }
    local out = { parts[1] }
    for i = 1, #fields do
        out[#out + 1] = vals[fields[i]]
        out[#out + 1] = parts[i + 1]
    end
    return table.concat(out)
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if status ~= 200 then
        non200 = non200 + 1
        if status == 503 and body:find("YB5003", 1, true) then
            -- the node's 10,000 fresh msgids per second are used up
            msgid_cap = msgid_cap + 1
        end
    elseif not body:find('"infcode"%s*:%s*0%s*[,}]') then
        badbody = badbody + 1
    else
        ok = ok + 1
    end
end


-- the main state again

function done(summary, latency, requests)
    local t = { ok = 0, non200 = 0, badbody = 0, exhausted = 0,
                msgid_cap = 0 }
    local st = {}
    for _, thread in ipairs(threads) do
        for k in pairs(t) do
            t[k] = t[k] + thread:get(k)
        end
        for s, n in pairs(thread:get("statuses")) do
            st[s] = (st[s] or 0) + n
        end
    end
    local list = {}
    for s, n in pairs(st) do
        list[#list + 1] = s .. ":" .. n
    end
    table.sort(list)
    local e = summary.errors
    io.write(string.format(
        "WRKRESULT requests=%d duration_us=%d p50_us=%d p99_us=%d ok=%d"
        .. " non200=%d badbody=%d exhausted=%d msgid_cap=%d"
        .. " connect=%d read=%d"
        .. " write=%d timeout=%d statuses=%s\n",
        summary.requests, summary.duration, latency:percentile(50),
        latency:percentile(99), t.ok, t.non200, t.badbody, t.exhausted,
        t.msgid_cap,
        e.connect, e.read, e.write, e.timeout,
        #list > 0 and table.concat(list, ",") or "-"))
end
