// Validates Kubernetes objects (a JSON array on stdin) against the CRD schemas that
// @kubernetes-models/istio (Istio's CRDs) and @kubernetes-models/gateway-api (Gateway API's CRDs)
// ship. Prints one line per object; exits 1 if any object fails, 2 if a kind has no schema here.
// Run by scripts/check_deploy.py with NODE_PATH pointing at the installed node_modules.
import { join } from "node:path";
import { pathToFileURL } from "node:url";

// The packages export ES modules only ("import" condition), so load them by file path.
const load = (subpath) => import(pathToFileURL(join(process.env.NODE_PATH, subpath, "index.js")).href);

const MODELS = {
  "extensions.istio.io/v1alpha1": "@kubernetes-models/istio/extensions.istio.io/v1alpha1",
  "networking.istio.io/v1": "@kubernetes-models/istio/networking.istio.io/v1",
  "gateway.networking.k8s.io/v1": "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1",
};

let input = "";
for await (const chunk of process.stdin) input += chunk;
const objects = JSON.parse(input);

let failed = 0;
let unknown = 0;
for (const { file, object } of objects) {
  const label = `${file}: ${object.kind}/${object.metadata?.name}`;
  const modulePath = MODELS[object.apiVersion];
  if (!modulePath) {
    console.log(`NO SCHEMA ${label} (${object.apiVersion})`);
    unknown += 1;
    continue;
  }
  const mod = await load(modulePath);
  const Model = mod[object.kind];
  if (!Model) {
    console.log(`NO SCHEMA ${label} (${object.apiVersion} has no ${object.kind})`);
    unknown += 1;
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`valid ${label} (${object.apiVersion})`);
  } catch (e) {
    console.log(`INVALID ${label}: ${e.message}`);
    failed += 1;
  }
}
process.exit(failed ? 1 : unknown ? 2 : 0);
