// ethers v6 and viem against the node's WebSocket with API keys (tests/e2e/test_websocket_guard.py).
// usage: node ws_guard.cjs <ws url> <key>[,<viem's key>] key|limit   (NODE_PATH=.clients/node_modules)
// Prints one JSON line: what each client got.
"use strict";
const { WebSocketProvider } = require("ethers");
const { createPublicClient, webSocket } = require("viem");
const WebSocket = require("ws");

const [url, keys, mode] = process.argv.slice(2);
const [key, viemKey = key] = keys.split(",");  // (a key of its own: a limit is per key)

function rpcCodes(err) {
  // every JSON-RPC code on the error's chain (ethers: err.error is the node's error
  // object; viem wraps it: err.code, or a cause's)
  const codes = [];
  for (let e = err; e; e = e.cause) {
    if (e.error && typeof e.error.code === "number") codes.push(e.error.code);
    if (e.info && e.info.error && typeof e.info.error.code === "number") codes.push(e.info.error.code);
    if (typeof e.code === "number") codes.push(e.code);
  }
  return codes.length ? codes : [String(err && err.message).slice(0, 200)];
}

function ethersWith(headers) {
  // ethers runs on node's `ws`, which can set headers on the upgrade
  return new WebSocketProvider(() => new WebSocket(url, { headers }), 31337, { staticNetwork: true });
}

function viemWith(query) {
  // viem as in a browser: no headers, so the key goes in the query
  return createPublicClient({
    transport: webSocket(query ? `${url}?api_key=${encodeURIComponent(query)}` : url,
      { reconnect: false, retryCount: 0, keepAlive: false, timeout: 5000 }),
  });
}

function handshake(headers) {
  // the status an upgrade gets, through the socket ethers uses
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on("unexpected-response", (_req, res) => { resolve(res.statusCode); ws.terminate(); });
    ws.on("open", () => { resolve(101); ws.close(); });
    ws.on("error", () => resolve("error"));
  });
}

async function main() {
  const out = {};
  if (mode === "key") {
    const eth = ethersWith({ "x-api-key": key });
    out.ethers = Number(await eth.send("eth_chainId", []));
    out.ethersBlock = await eth.getBlockNumber();
    await eth.destroy();
    const vc = viemWith(key);
    out.viem = await vc.getChainId();
    out.viemBlock = Number(await vc.getBlockNumber());
    out.ethersNoKey = (await handshake({})) === 401 ? "refused" : "answered";
    try {
      await viemWith(null).getChainId();
      out.viemNoKey = "answered";
    } catch (err) {
      out.viemNoKey = "refused";
    }
  } else {
    const eth = ethersWith({ authorization: `Bearer ${key}` });
    const codes = [];
    for (let i = 0; i < 6; i++) {  // one at a time (ethers would batch parallel calls)
      try { await eth.send("eth_chainId", []); } catch (err) { codes.push(rpcCodes(err)); }
    }
    out.ethers = codes[0];
    await eth.destroy();
    const vc = viemWith(viemKey);
    const vcodes = [];
    for (let i = 0; i < 6; i++) {
      try { await vc.request({ method: "eth_chainId" }); } catch (err) {
        vcodes.push(rpcCodes(err));
        if (!out.viemMessage) out.viemMessage = `${err.name}: ${err.message}`.slice(0, 600);
      }
    }
    out.viem = vcodes[0];
  }
  console.log(JSON.stringify(out));
  process.exit(0);
}

main().catch((err) => { console.error(err); process.exit(1); });
