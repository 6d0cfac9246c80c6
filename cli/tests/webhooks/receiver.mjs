// A webhook receiver that verifies every request with the `standardwebhooks` package from npm
// (nothing of behalf's own). Same paths and log format as receiver.py; "ok" and "gone" only.
// Usage: node receiver.mjs PORT LOGFILE   (secrets: RECEIVER_SECRETS, JSON key → whsec_)
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const [port, logFile] = process.argv.slice(2);
const secrets = JSON.parse(process.env.RECEIVER_SECRETS);
const seen = new Set();

createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const [key, behaviour] = req.url.split("/").filter(Boolean);
    const h = req.headers;
    const entry = {
      recv: "node", path: req.url, id: h["webhook-id"] ?? null,
      timestamp: h["webhook-timestamp"] ?? null, signature: h["webhook-signature"] ?? null,
      body, t: Date.now() / 1000,
    };
    try {
      new Webhook(secrets[key]).verify(body, {
        "webhook-id": h["webhook-id"], "webhook-timestamp": h["webhook-timestamp"],
        "webhook-signature": h["webhook-signature"],
      });
      entry.verified = true; entry.error = null;
    } catch (e) {
      entry.verified = false; entry.error = String(e?.message ?? e);
    }
    let status = 204;
    if (!entry.verified) status = 400;
    else if (behaviour === "gone") status = 410;
    else { entry.duplicate = seen.has(entry.id); seen.add(entry.id); }
    entry.status = status;
    appendFileSync(logFile, JSON.stringify(entry) + "\n");
    res.writeHead(status, { "content-length": "0" });
    res.end();
  });
}).listen(Number(port), "127.0.0.1", () => console.log("ready"));
