// The deployment files (R-OPS-4), checked offline: the Dockerfile's stages,
// the Compose file and the Kubernetes manifests parsed and held to the
// fields that matter (kinds, selectors, ports, probes on /health, the token
// from a secret and never on a command line, a non-root user).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parse, parseAllDocuments } from "yaml";
import { ROOT } from "../helpers/procs.js";

type Obj = Record<string, unknown>;
const read = (path: string) => readFileSync(`${ROOT}/${path}`, "utf8");
const obj = (x: unknown, what: string): Obj => {
  assert.ok(typeof x === "object" && x !== null && !Array.isArray(x), `${what} must be a mapping`);
  return x as Obj;
};
const arr = (x: unknown, what: string): unknown[] => {
  assert.ok(Array.isArray(x), `${what} must be a list`);
  return x;
};
const str = (x: unknown, what: string): string => {
  assert.equal(typeof x, "string", `${what} must be a string`);
  return x as string;
};
/** The value after `flag` in an argument list. */
const flag = (args: string[], name: string): string | undefined => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};

test("deploy - the Dockerfile builds the addon in a build stage and runs a slim production image as a non-root user", () => {
  const text = read("Dockerfile");
  const stages = [...text.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)];
  assert.equal(stages.length, 2, "a build stage and a final stage");
  for (const [, image] of stages) assert.match(image!, /^node:20[\w.-]*-slim$/, "a Node.js 20 slim base");
  const [build, final] = text.split(/^FROM\s+/m).slice(1);
  assert.match(build!, /apt-get install[^\n]*python3[^\n]*make[^\n]*g\+\+/, "the addon's toolchain, in the build stage only");
  assert.doesNotMatch(final!, /apt-get|g\+\+/);
  assert.match(build!, /npm ci/);
  assert.match(build!, /npm prune --omit=dev/, "production dependencies only");
  assert.match(final!, /COPY --from=build \/app\/build\/Release\/troupe_shm\.node/);
  assert.match(final!, /^USER node$/m);
  assert.match(final!, /^ENTRYPOINT \["node", "\/app\/dist\/cli\/main\.js"\]$/m, "one image: troupe scheduler, troupe worker, troupe run");
  const ignored = read(".dockerignore").split("\n");
  for (const p of ["node_modules", "dist", "build", ".git"]) assert.ok(ignored.includes(p), `.dockerignore leaves out ${p}`);
});

test("deploy - the Compose file starts a scheduler and 2 workers, the token a secret file, and probes /health", () => {
  const doc = obj(parse(read("compose.yaml")), "compose.yaml");
  const services = obj(doc.services, "services");
  const secrets = obj(doc.secrets, "secrets");
  const scheduler = obj(services.scheduler, "services.scheduler");
  const worker = obj(services.worker, "services.worker");
  assert.equal(obj(worker.deploy, "worker.deploy").replicas, 2);
  for (const [name, s] of Object.entries(services)) {
    const svc = obj(s, name);
    assert.equal(svc.image, "troupe:latest", `${name} runs the image built from the Dockerfile`);
    assert.equal(svc.build, ".", `${name} builds it (from cache after the first), so nothing tries to pull it`);
    const args = arr(svc.command, `${name}.command`).map((a) => str(a, `${name}.command`));
    assert.ok(!args.includes("--token") && !args.some((a) => /TROUPE_TOKEN/.test(a)), `${name}: no token on the command line`);
    const mounted = arr(svc.secrets, `${name}.secrets`).map((m) => obj(m, `${name}.secrets[]`));
    assert.equal(mounted.length, 1);
    assert.ok(Object.hasOwn(secrets, str(mounted[0]!.source, "source")), `${name}'s secret is declared`);
    assert.equal(mounted[0]!.uid, "1000", "readable by the image's user");
    assert.equal(mounted[0]!.mode, 0o400, "and by nobody else (troupe refuses a token file others may read)");
    assert.equal(flag(args, "--token-file"), `/run/secrets/${str(mounted[0]!.target, "target")}`, `${name} reads the token from the secret`);
  }
  const sArgs = scheduler.command as string[];
  const wArgs = worker.command as string[];
  assert.equal(sArgs[0], "scheduler");
  assert.equal(wArgs[0], "worker");
  assert.equal(wArgs[1], `tcp://scheduler:${flag(sArgs, "--port")}`, "workers reach the scheduler by its service name");
  assert.equal(flag(sArgs, "--host"), "0.0.0.0");
  const probe = (svc: Obj) => arr(obj(svc.healthcheck, "healthcheck").test, "healthcheck.test").join(" ");
  assert.match(probe(scheduler), new RegExp(`127\\.0\\.0\\.1:${flag(sArgs, "--dashboard-port")}/health`));
  assert.match(probe(worker), new RegExp(`127\\.0\\.0\\.1:${flag(wArgs, "--http-port")}/health`));
  assert.equal(obj(obj(worker.depends_on, "depends_on").scheduler, "depends_on.scheduler").condition, "service_healthy");
  assert.deepEqual(obj(secrets["troupe-token"], "secrets.troupe-token"), { environment: "TROUPE_TOKEN" });
});

/** The fields of each kind the cluster relies on, as a schema would require them. */
function checkShape(doc: Obj): void {
  const kind = str(doc.kind, "kind");
  const expected: Record<string, string> = { Deployment: "apps/v1", Service: "v1", Secret: "v1" };
  assert.equal(doc.apiVersion, expected[kind], `${kind} apiVersion`);
  const meta = obj(doc.metadata, `${kind}.metadata`);
  assert.match(str(meta.name, "metadata.name"), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "a DNS-1123 name");
  if (kind === "Deployment") {
    const spec = obj(doc.spec, "spec");
    assert.ok(Number.isInteger(spec.replicas) && (spec.replicas as number) >= 1);
    const match = obj(obj(spec.selector, "selector").matchLabels, "matchLabels");
    const template = obj(spec.template, "template");
    const labels = obj(obj(template.metadata, "template.metadata").labels, "template labels");
    for (const [k, v] of Object.entries(match)) assert.equal(labels[k], v, `${meta.name}: the selector matches its pods`);
    const pod = obj(template.spec, "template.spec");
    assert.equal(obj(pod.securityContext, "securityContext").runAsNonRoot, true);
    for (const c of arr(pod.containers, "containers")) {
      const container = obj(c, "container");
      str(container.name, "container.name");
      str(container.image, "container.image");
      for (const p of arr(container.ports, "ports")) assert.ok(Number.isInteger(obj(p, "port").containerPort));
    }
  }
  if (kind === "Service") for (const p of arr(obj(doc.spec, "spec").ports, "ports")) assert.ok(Number.isInteger(obj(p, "port").port));
}

test("deploy - the Kubernetes manifests: scheduler Deployment and Service, workers scaled by replicas, the token from a Secret, probes on /health", () => {
  const docs = [...parseAllDocuments(read("deploy/kubernetes/troupe.yaml")), ...parseAllDocuments(read("deploy/kubernetes/secret.yaml"))].map((d) => {
    assert.deepEqual(d.errors, []);
    return obj(d.toJS(), "a manifest");
  });
  docs.forEach(checkShape);
  const find = (kind: string, name: string) => {
    const d = docs.find((x) => x.kind === kind && (x.metadata as Obj).name === name);
    assert.ok(d, `${kind} ${name}`);
    return d;
  };
  const secret = find("Secret", "troupe-token");
  assert.ok(Object.hasOwn(obj(secret.stringData, "stringData"), "token"));
  const service = find("Service", "troupe-scheduler");
  const containerOf = (d: Obj) => obj(arr(obj(obj(obj(d.spec, "spec").template, "template").spec, "pod").containers, "containers")[0], "container");
  const scheduler = containerOf(find("Deployment", "troupe-scheduler"));
  const worker = containerOf(find("Deployment", "troupe-worker"));
  const schedulerPod = obj(obj(obj(find("Deployment", "troupe-scheduler").spec, "spec").template, "template").metadata, "metadata").labels as Obj;
  for (const [k, v] of Object.entries(obj(obj(service.spec, "spec").selector, "selector"))) assert.equal(schedulerPod[k], v, "the Service selects the scheduler's pod");

  const portsOf = (c: Obj) => new Map(arr(c.ports, "ports").map((p) => [(p as Obj).name as string, (p as Obj).containerPort as number]));
  for (const [c, httpFlag] of [[scheduler, "--dashboard-port"], [worker, "--http-port"]] as const) {
    const args = arr(c.args, "args") as string[];
    assert.ok(!args.includes("--token"), "no token on the command line");
    const env = arr(c.env, "env").map((e) => obj(e, "env"));
    const token = env.find((e) => e.name === "TROUPE_TOKEN");
    const ref = obj(obj(token?.valueFrom, "valueFrom").secretKeyRef, "secretKeyRef");
    assert.deepEqual(ref, { name: "troupe-token", key: "token" });
    for (const probe of ["readinessProbe", "livenessProbe"]) {
      const get = obj(obj(c[probe], probe).httpGet, "httpGet");
      assert.equal(get.path, "/health");
      assert.equal(portsOf(c).get(get.port as string), Number(flag(args, httpFlag)), `${probe} asks the port ${httpFlag} serves`);
    }
  }
  const sArgs = scheduler.args as string[];
  const wArgs = worker.args as string[];
  const comm = arr(obj(service.spec, "spec").ports, "ports").map((p) => obj(p, "port")).find((p) => p.name === "comm")!;
  assert.equal(portsOf(scheduler).get(comm.targetPort as string), Number(flag(sArgs, "--port")), "the Service reaches the scheduler's port");
  assert.equal(wArgs[1], `tcp://troupe-scheduler:${comm.port}`, "workers reach the scheduler through its Service");
  assert.equal(flag(wArgs, "--contact-host"), "$(POD_IP)");
  assert.ok(arr(worker.env, "env").some((e) => (e as Obj).name === "POD_IP"), "POD_IP is defined for the args to expand");
  assert.equal(portsOf(worker).get("comm"), Number(flag(wArgs, "--port")));
});
