-- wrk: POST /v1/verify (or /echo) with the agent's key; the same request every time.
wrk.method = "POST"
wrk.body = '{"agentId":"agent_bench","action":"read","vendor":"example.com","params":{"n":1}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BEHALF_AGENT_KEY") or "")
