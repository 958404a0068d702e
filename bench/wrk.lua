-- wrk script for bench/: POSTs the JSON body in $BENCH_BODY_FILE and prints one
-- "BENCH_RESULT {...}" line with the counts and latency percentiles (microseconds).
-- A file of several lines (JSON Lines) is sent one line per request, in turn.
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
local bodies = {}
for line in f:read("*a"):gmatch("[^\n]+") do bodies[#bodies + 1] = line end
f:close()
wrk.method = "POST"
wrk.body = bodies[1]
wrk.headers["Content-Type"] = "application/json"

if #bodies > 1 then
  local i = 0
  function request()
    i = i % #bodies + 1
    return wrk.format(nil, nil, nil, bodies[i])
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"socket_errors":%d,"non_2xx":%d,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
