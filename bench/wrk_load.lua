-- wrk script of bench/http.py. It counts 2xx answers apart from every other status and, at the
-- end, prints one line "WRK_RESULT {json}" for the harness to parse (times in microseconds).
--
-- With two arguments after wrk's "--" (comma-separated paths, comma-separated bearer tokens),
-- every request is a POST of a JSON bid: the token advances with each request and the path
-- with each round of tokens, so every bidder bids on every auction in turn, and the amount
-- runs from 10.00 to 99.99 (a sealed first-price auction without a reserve takes them all).
-- Without arguments, every request is the URL's own GET.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local function split(text)
  local items = {}
  for item in string.gmatch(text, "[^,]+") do
    table.insert(items, item)
  end
  return items
end

function init(args)
  ok, not_ok, next_index = 0, 0, 0
  prepared = nil
  if #args < 2 then
    return
  end
  local paths, tokens = split(args[1]), split(args[2])
  local round = #paths * #tokens
  local count = round * math.ceil(4096 / round)
  prepared = {}
  for i = 0, count - 1 do
    local token = tokens[i % #tokens + 1]
    local path = paths[math.floor(i / #tokens) % #paths + 1]
    local body = string.format('{"amount": "%d.%02d"}', 10 + i % 90, (i * 7) % 100)
    local headers = {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
    }
    prepared[i + 1] = wrk.format("POST", path, headers, body)
  end
end

function request()
  if prepared == nil then
    return wrk.request()
  end
  next_index = next_index % #prepared + 1
  return prepared[next_index]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    not_ok = not_ok + 1
  end
end

function done(summary, latency, requests)
  local good, bad = 0, 0
  for _, thread in ipairs(threads) do
    good = good + thread:get("ok")
    bad = bad + thread:get("not_ok")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"duration_us": %d, "responses": %d, "ok": %d, "not_ok": %d, '
      .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
      .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.duration, summary.requests, good, bad,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean
  ))
end
