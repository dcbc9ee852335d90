// Validates Prometheus Operator resources (read as JSON documents, one per line, from
// stdin) against the operator's CRD schemas, as packaged by @kubernetes-models.
// Prints one line per document: "ok <kind>/<name>" or "invalid <kind>/<name>: <errors>".
// Exit status 1 when any document is invalid or of a kind it does not know.
import { createInterface } from "node:readline";
import * as v1 from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

let failed = false;
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const doc = JSON.parse(line);
  const name = `${doc.kind}/${doc.metadata?.name}`;
  const Model = doc.apiVersion === "monitoring.coreos.com/v1" ? v1[doc.kind] : undefined;
  if (!Model) {
    console.log(`invalid ${name}: no schema for ${doc.apiVersion} ${doc.kind}`);
    failed = true;
    continue;
  }
  try {
    new Model(doc).validate();
    console.log(`ok ${name}`);
  } catch (err) {
    console.log(`invalid ${name}: ${err.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
