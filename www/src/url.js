// The sandbox's state in the URL fragment, so a link reproduces a trace:
// #s=<scenario>&r=<request JSON, base64url>&p=<policy JSON, base64url> (r and p only when edited).

function encode(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decode(b64) {
  const bin = atob(b64.replace(/-/g, "+").replace(/_/g, "/"));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

export function readUrlState() {
  const params = new URLSearchParams(location.hash.slice(1));
  const text = (key) => {
    const v = params.get(key);
    if (!v) return null;
    try {
      return decode(v);
    } catch {
      return null;
    }
  };
  return { scenario: params.get("s"), request: text("r"), policy: text("p") };
}

export function writeUrlState({ scenario, request, policy }) {
  const params = new URLSearchParams();
  params.set("s", scenario);
  if (request !== null) params.set("r", encode(request));
  if (policy !== null) params.set("p", encode(policy));
  const hash = `#${params}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
}
