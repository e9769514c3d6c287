// Judges Gateway API objects with the Gateway API's own schemas (@kubernetes-models/gateway-api).
// Reads a JSON list of manifests on standard input; prints a JSON list with, for each one,
// null when valid or the schema's complaint. A kind this judge does not know is a complaint.
import * as v1 from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";

const KINDS = { Gateway: v1.Gateway, HTTPRoute: v1.HTTPRoute };

let input = "";
for await (const chunk of process.stdin) input += chunk;
const verdicts = JSON.parse(input).map((doc) => {
  const Model = doc.apiVersion === "gateway.networking.k8s.io/v1" ? KINDS[doc.kind] : undefined;
  if (!Model) return `no schema for ${doc.apiVersion} ${doc.kind}`;
  try {
    new Model(doc).validate();
    return null;
  } catch (error) {
    return String(error.message);
  }
});
process.stdout.write(JSON.stringify(verdicts));
