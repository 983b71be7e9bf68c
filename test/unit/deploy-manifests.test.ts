/**
 * Issue 6, acceptance 5: static validation of docker-compose.yml, the Dockerfile, deploy/k8s
 * (a kustomize-equivalent check), deploy/systemd and the docs, against the apps themselves:
 * images pinned, entry points, ports, env vars (the zod schema in libs/common/src/config.ts),
 * probe paths (the health controllers), selectors and target ports. No docker or kubectl.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseAgentConfig } from '../../apps/agent/src/config/load-config.js';
import { redisConfDirectives } from '../support/known-env.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
// biome-ignore lint/suspicious/noExplicitAny: parsed YAML of many shapes, checked field by field
type Obj = Record<string, any>;

/** Every key of the env schema in config.ts, read from its source so that new settings count at once. */
function configKeys(): Set<string> {
  const source = read('libs/common/src/config.ts');
  const start = source.indexOf('const envSchema = z.object({');
  expect(start, 'envSchema in libs/common/src/config.ts').toBeGreaterThan(-1);
  const body = source.slice(start, source.indexOf('\n});', start));
  return new Set([...body.matchAll(/^\s{2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!));
}
const CONFIG_KEYS = configKeys();

/** Variables the apps read besides config.ts: the OpenTelemetry SDK's standard ones and Node's. */
const isStandardEnv = (name: string) => /^OTEL_[A-Z0-9_]+$/.test(name) || name === 'NODE_ENV';

/** `/health/live` etc.: routes of the api's health controller, read from its decorators. */
function apiHealthPaths(): Set<string> {
  const source = read('apps/api/src/health/health.controller.ts');
  const base = /@Controller\('([^']+)'\)/.exec(source)?.[1];
  expect(base).toBeDefined();
  return new Set([...source.matchAll(/@Get\('([^']+)'\)/g)].map((m) => `/${base}/${m[1]}`));
}
const API_HEALTH = apiHealthPaths();

/** `/live`, `/ready`: the agent's health server routes. */
function agentHealthPaths(): Set<string> {
  const source = read('apps/agent/src/health/health-server.ts');
  return new Set([...source.matchAll(/path === '([^']+)'/g)].map((m) => m[1]!));
}

/** `/health/live`, `/health/ready`: the worker's health server routes (TK_WORKER_HEALTH_PORT). */
function workerHealthPaths(): Set<string> {
  const source = read('apps/worker/src/health/worker-health.service.ts');
  return new Set([...source.matchAll(/^\s*'(\/[\w/]+)': \(\) =>/gm)].map((m) => m[1]!));
}

/** Default api port from config.ts. */
const API_PORT = Number(
  /TK_API_PORT: int\([^)]*\)\.default\((\d+)\)/.exec(read('libs/common/src/config.ts'))?.[1],
);

/** `dist/apps/<app>/src/main.js` → its source entry point, which must exist. */
function expectEntryPoint(command: string, where: string): string {
  const m = /dist\/apps\/([a-z-]+)\/src\/main\.js/.exec(command);
  expect(m, `${where}: "${command}" names no app entry point dist/apps/<app>/src/main.js`).not.toBeNull();
  expect(existsSync(join(ROOT, `apps/${m![1]}/src/main.ts`)), `${where}: apps/${m![1]}/src/main.ts`).toBe(
    true,
  );
  return m![1]!;
}

/** `name:tag` or `name@sha256:…`, never `latest`. */
function expectPinned(image: string, where: string): void {
  const digest = /@sha256:[a-f0-9]{64}$/.test(image);
  const tag = /:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/.exec(image.replace(/^[^/]+:\d+\//, ''))?.[1];
  expect(
    digest || (tag !== undefined && tag !== 'latest'),
    `${where}: image ${image} is not pinned to a tag`,
  ).toBe(true);
}

function placeholders(text: string): { required: Set<string>; all: Set<string> } {
  const all = new Set<string>();
  const required = new Set<string>();
  const withoutComments = text.replace(/^\s*#.*$/gm, '');
  for (const m of withoutComments.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g)) {
    all.add(m[1]!);
    if (!m[2]) required.add(m[1]!);
  }
  return { required, all };
}

const AGENT_EXAMPLE = 'deploy/agent/agent.example.yaml';

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');

  it('is multi-stage on pinned node:24-slim images and runs as a non-root user', () => {
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)];
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const [, image] of froms) {
      expect(image).toMatch(/^node:24[.\d]*-slim/);
      expectPinned(image!, 'Dockerfile');
    }
    const user = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].at(-1)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });

  it('starts an existing app entry point, and exposes the api port', () => {
    const cmd = /^CMD\s+(\[.*\])/m.exec(dockerfile)?.[1];
    expect(cmd).toBeDefined();
    expect(expectEntryPoint(JSON.parse(cmd!).join(' '), 'Dockerfile CMD')).toBe('api');
    expect(dockerfile).toMatch(new RegExp(`^EXPOSE\\s+${API_PORT}\\b`, 'm'));
    for (const [, key] of dockerfile.matchAll(/^\s*(?:ENV\s+)?(TK_[A-Z0-9_]+)=/gm))
      expect(CONFIG_KEYS).toContain(key);
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as Obj;
  const services = compose.services as Record<string, Obj>;
  const agentConfigText = read(AGENT_EXAMPLE);
  const agentVars = placeholders(agentConfigText);

  const appOf = (svc: Obj): string | undefined => {
    const command = Array.isArray(svc.command) ? svc.command.join(' ') : String(svc.command ?? '');
    return /dist\/apps\/([a-z-]+)\//.exec(command)?.[1];
  };

  it('has redis, api, two workers, an agent example, an OpenTelemetry collector, Jaeger and Prometheus', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['redis', 'api', 'worker', 'agent', 'otel-collector', 'jaeger', 'prometheus']),
    );
    expect(services.worker!.deploy?.replicas).toBe(2);
    expect(services['otel-collector']!.image).toMatch(/^otel\/opentelemetry-collector-contrib:/);
    expect(services.jaeger!.image).toMatch(/^jaegertracing\//);
    expect(services.prometheus!.image).toMatch(/^prom\/prometheus:/);
  });

  it('pins every image to a tag', () => {
    for (const [name, svc] of Object.entries(services)) {
      expect(svc.image, `${name} has an image`).toBeTypeOf('string');
      expectPinned(svc.image, `service ${name}`);
    }
  });

  it('runs existing app entry points with env vars the apps know', () => {
    for (const [name, svc] of Object.entries(services)) {
      const app = appOf(svc);
      if (!app) continue;
      expectEntryPoint((svc.command as string[]).join(' '), `service ${name}`);
      for (const key of Object.keys(svc.environment ?? {})) {
        const known = isStandardEnv(key) || (app === 'agent' ? agentVars.all.has(key) : CONFIG_KEYS.has(key));
        expect(known, `service ${name}: env ${key} is read by no app (config.ts / agent config)`).toBe(true);
      }
      if (app === 'agent') {
        for (const v of agentVars.required)
          expect(Object.keys(svc.environment ?? {}), `agent needs ${v}`).toContain(v);
      }
    }
  });

  it('publishes the ports the apps listen on, and health checks call real routes', () => {
    const api = services.api!;
    const port = Number(api.environment.TK_API_PORT ?? API_PORT);
    const published = (api.ports as string[]).map((p) => Number(String(p).split(':').at(-1)));
    expect(published).toContain(port);
    const agentPort = (parse(agentConfigText) as Obj).health.port as number;
    expect((services.agent!.expose as string[]).map(Number)).toContain(agentPort);
    const redisPort = Number(new URL(services.api!.environment.REDIS_URL).port || 6379);
    expect((services.redis!.expose as string[]).map(Number)).toContain(redisPort);
    expect(new URL(services.api!.environment.REDIS_URL).hostname).toBe('redis');

    const agentHealth = agentHealthPaths();
    for (const [name, svc] of Object.entries(services)) {
      const test = JSON.stringify(svc.healthcheck?.test ?? '');
      for (const [, host, p, path] of test.matchAll(/http:\/\/([\w.-]+):(\d+)(\/[\w/]*)/g)) {
        expect(host).toBe('127.0.0.1');
        const app = appOf(svc);
        if (app === 'api') {
          expect(Number(p)).toBe(port);
          expect(API_HEALTH, `${name} healthcheck`).toContain(path);
        } else if (app === 'agent') {
          expect(Number(p)).toBe(agentPort);
          expect(agentHealth, `${name} healthcheck`).toContain(path);
        } else if (app === 'worker') {
          expect(Number(p)).toBe(Number(svc.environment.TK_WORKER_HEALTH_PORT));
          expect((svc.expose as string[]).map(Number)).toContain(Number(p));
          expect(workerHealthPaths(), `${name} healthcheck`).toContain(path);
        }
      }
    }
  });

  it('mounts files that exist, and depends on services that exist', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const volume of (svc.volumes ?? []) as string[]) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('./'))
          expect(existsSync(join(ROOT, source)), `${name} mounts ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: named volume ${source}`).toContain(source);
      }
      const deps = Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {});
      for (const dep of deps) expect(Object.keys(services), `${name} depends on ${dep}`).toContain(dep);
    }
  });

  it('wires traces to Jaeger through the collector and Prometheus to the api’s /metrics', () => {
    const collector = parse(read('deploy/otel/collector.yaml')) as Obj;
    const pipelines = collector.service.pipelines as Record<string, Obj>;
    for (const [name, p] of Object.entries(pipelines)) {
      for (const r of p.receivers)
        expect(Object.keys(collector.receivers), `${name} receiver ${r}`).toContain(r);
      for (const x of p.processors ?? [])
        expect(Object.keys(collector.processors), `${name} processor ${x}`).toContain(x);
      for (const e of p.exporters)
        expect(Object.keys(collector.exporters), `${name} exporter ${e}`).toContain(e);
    }
    expect(collector.exporters['otlp/jaeger'].endpoint).toMatch(/^jaeger:4317$/);
    const otlpHttp = services.api!.environment.OTEL_EXPORTER_OTLP_ENDPOINT as string;
    expect(collector.receivers.otlp.protocols.http.endpoint).toContain(new URL(otlpHttp).port);

    const prom = parse(read('deploy/prometheus/prometheus.yml')) as Obj;
    const apiJob = (prom.scrape_configs as Obj[]).find((j) =>
      j.static_configs[0].targets.includes(`api:${API_PORT}`),
    );
    expect(apiJob?.metrics_path).toBe('/metrics');
    for (const file of prom.rule_files ?? []) {
      const mount = (services.prometheus!.volumes as string[]).find((v) => v.split(':')[1] === file);
      expect(mount, `rule file ${file} is mounted`).toBeDefined();
      expect(parse(read(mount!.split(':')[0]!.slice(2))).groups.length).toBeGreaterThan(0);
    }
  });

  it('ships an agent example config that the agent itself accepts', () => {
    const env = Object.fromEntries(
      [...agentVars.all].map((v) => [v, v.includes('CREDENTIAL') ? 'cred_example000001' : 'http://api:8080']),
    );
    const config = parseAgentConfig(agentConfigText, env, AGENT_EXAMPLE);
    expect(config.credentials.length).toBeGreaterThan(0);
  });
});

describe('deploy/k8s (kustomize-equivalent check)', () => {
  const dir = 'deploy/k8s';
  const kustomization = parse(read(`${dir}/kustomization.yaml`)) as Obj;
  const resources: Obj[] = [];
  for (const file of kustomization.resources as string[]) {
    const path = join(dir, file);
    it(`resource ${file} exists and parses`, () => {
      expect(existsSync(join(ROOT, path))).toBe(true);
    });
    if (!existsSync(join(ROOT, path))) continue;
    for (const doc of parseAllDocuments(read(path))) {
      if (doc.errors.length) throw new Error(`${path}: ${doc.errors[0]!.message}`);
      const value = doc.toJS() as Obj | null;
      if (value) resources.push({ ...value, __file: file });
    }
  }
  const generated: Obj[] = ((kustomization.configMapGenerator ?? []) as Obj[]).map((g) => ({
    kind: 'ConfigMap',
    metadata: { name: g.name },
    data: Object.fromEntries((g.files as string[]).map((f) => [f.split('=')[0], f.split('=').at(-1)])),
  }));
  const example = parseAllDocuments(read(`${dir}/agent-sidecar-example.yaml`)).map((d) => d.toJS() as Obj);
  const all = [...resources, ...generated];
  const workloads = (list: Obj[]) => list.filter((r) => ['Deployment', 'StatefulSet'].includes(r.kind));
  const imageTag = (image: string) => {
    const override = (kustomization.images as Obj[] | undefined)?.find((i) => i.name === image.split(':')[0]);
    return override ? `${override.newName ?? image.split(':')[0]}:${override.newTag}` : image;
  };
  const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => labels?.[k] === v);

  it('has the api and worker Deployments, Redis as a StatefulSet, PDBs, autoscaling, a NetworkPolicy, a Secret', () => {
    const kinds = resources.map((r) => `${r.kind}/${r.metadata.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Deployment/tokenkeeper-api',
        'Service/tokenkeeper-api',
        'Deployment/tokenkeeper-worker',
        'StatefulSet/tokenkeeper-redis',
        'PodDisruptionBudget/tokenkeeper-api',
        'PodDisruptionBudget/tokenkeeper-worker',
        'ScaledObject/tokenkeeper-worker',
        'Secret/tokenkeeper-api-secrets',
        'Secret/tokenkeeper-worker-secrets',
        'Secret/tokenkeeper-redis-acl',
      ]),
    );
    expect(resources.some((r) => r.kind === 'NetworkPolicy')).toBe(true);
    const apiSecret = resources.find(
      (r) => r.kind === 'Secret' && r.metadata.name === 'tokenkeeper-api-secrets',
    );
    expect(apiSecret!.stringData).toHaveProperty('encryption-keys');
  });

  it('generates the Redis ConfigMap from deploy/redis/redis.conf, which has AOF and hz 100', () => {
    const files = (kustomization.configMapGenerator as Obj[]).flatMap((g) => g.files as string[]);
    for (const f of files) expect(existsSync(resolve(ROOT, dir, f.split('=').at(-1)!)), f).toBe(true);
    const conf = read('deploy/redis/redis.conf');
    expect(conf).toMatch(/^appendonly yes/m);
    expect(conf).toMatch(/^hz 100/m);
  });

  for (const [label, list] of [
    ['resources', all],
    ['agent sidecar example', example],
  ] as const) {
    it(`${label}: selectors match pod labels; Services, probes and ports line up; images pinned`, () => {
      for (const w of workloads(list)) {
        const podLabels = w.spec.template.metadata.labels;
        expect(matches(w.spec.selector.matchLabels, podLabels), `${w.metadata.name} selector`).toBe(true);
        for (const c of [
          ...(w.spec.template.spec.initContainers ?? []),
          ...w.spec.template.spec.containers,
        ]) {
          const where = `${w.metadata.name}/${c.name}`;
          expectPinned(imageTag(c.image), where);
          const command = [...(c.command ?? []), ...(c.args ?? [])].join(' ');
          const app = /dist\/apps\/([a-z-]+)\//.exec(command)?.[1];
          if (app) expectEntryPoint(command, where);
          const ports = (c.ports ?? []) as Obj[];
          for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
            const p = c[probe]?.httpGet ?? c[probe]?.tcpSocket;
            if (!p) continue;
            expect(
              ports.some((x) => x.name === p.port || x.containerPort === p.port),
              `${where} ${probe} port ${p.port}`,
            ).toBe(true);
            if (c[probe].httpGet) {
              const routes =
                app === 'agent' ? agentHealthPaths() : app === 'worker' ? workerHealthPaths() : API_HEALTH;
              expect(routes, `${where} ${probe} path`).toContain(c[probe].httpGet.path);
            }
          }
          if (app === 'api') {
            expect(c.livenessProbe?.httpGet?.path).toBe('/health/live');
            expect(c.readinessProbe?.httpGet?.path).toBe('/health/ready');
            const envPort = (c.env as Obj[]).find((e) => e.name === 'TK_API_PORT')?.value ?? API_PORT;
            expect(ports.map((p) => p.containerPort)).toContain(Number(envPort));
          }
          if (app === 'worker') {
            expect(c.readinessProbe?.httpGet?.path).toBe('/health/ready');
            const envPort = (c.env as Obj[]).find((e) => e.name === 'TK_WORKER_HEALTH_PORT')?.value;
            expect(Number(envPort), `${where} sets TK_WORKER_HEALTH_PORT`).toBeGreaterThan(0);
            expect(ports.map((p) => p.containerPort)).toContain(Number(envPort));
          }
          if (app === 'api' || app === 'worker') {
            expect(
              c.resources?.requests?.cpu && c.resources?.requests?.memory,
              `${where} requests`,
            ).toBeTruthy();
            expect(c.resources?.limits?.memory, `${where} memory limit`).toBeTruthy();
            const names = [
              ...((c.env ?? []) as Obj[]).map((e) => e.name as string),
              ...((c.envFrom ?? []) as Obj[]).flatMap((ref) => {
                const kind = ref.configMapRef ? 'ConfigMap' : 'Secret';
                const name = (ref.configMapRef ?? ref.secretRef).name;
                const target = list.find((r) => r.kind === kind && r.metadata.name === name);
                expect(target, `${where} envFrom ${kind}/${name}`).toBeDefined();
                return Object.keys(target!.data ?? target!.stringData ?? {});
              }),
            ];
            for (const n of names)
              expect(CONFIG_KEYS.has(n) || isStandardEnv(n), `${where}: env ${n}`).toBe(true);
          }
          if (app === 'agent') {
            const config = list.find((r) => r.kind === 'ConfigMap' && r.data?.['agent.yaml']);
            const vars = placeholders(config!.data['agent.yaml']);
            const names = ((c.env ?? []) as Obj[]).map((e) => e.name);
            for (const v of vars.required) expect(names, `${where} sets ${v}`).toContain(v);
            const parsed = parse(config!.data['agent.yaml']) as Obj;
            expect(ports.map((p) => p.containerPort)).toContain(parsed.health.port);
          }
        }
      }
      for (const svc of list.filter((r) => r.kind === 'Service')) {
        const targets = workloads(list).filter((w) =>
          matches(svc.spec.selector, w.spec.template.metadata.labels),
        );
        expect(targets.length, `Service ${svc.metadata.name} selects pods`).toBeGreaterThan(0);
        for (const port of svc.spec.ports as Obj[]) {
          const target = port.targetPort ?? port.port;
          const ok = targets.every((w) =>
            (w.spec.template.spec.containers as Obj[]).some((c) =>
              ((c.ports ?? []) as Obj[]).some((p) => p.name === target || p.containerPort === target),
            ),
          );
          expect(ok, `Service ${svc.metadata.name} targetPort ${target}`).toBe(true);
        }
      }
    });
  }

  it('PodDisruptionBudgets, NetworkPolicies and the ScaledObject point at real workloads', () => {
    const pods = workloads(all).map((w) => w.spec.template.metadata.labels as Record<string, string>);
    for (const pdb of all.filter((r) => r.kind === 'PodDisruptionBudget')) {
      expect(
        pods.some((l) => matches(pdb.spec.selector.matchLabels, l)),
        `PDB ${pdb.metadata.name}`,
      ).toBe(true);
    }
    for (const np of all.filter((r) => r.kind === 'NetworkPolicy')) {
      const sel = np.spec.podSelector.matchLabels ?? {};
      expect(
        pods.some((l) => matches(sel, l)),
        `NetworkPolicy ${np.metadata.name}`,
      ).toBe(true);
      for (const rule of np.spec.ingress ?? []) {
        for (const from of rule.from ?? []) {
          if (from.podSelector) expect(pods.some((l) => matches(from.podSelector.matchLabels, l))).toBe(true);
        }
      }
    }
    // Redis accepts the api and the workers.
    const redisPolicy = all.find(
      (r) =>
        r.kind === 'NetworkPolicy' &&
        r.spec.podSelector.matchLabels?.['app.kubernetes.io/name'] === 'tokenkeeper-redis',
    );
    const clientSelector = redisPolicy!.spec.ingress[0].from[0].podSelector.matchLabels;
    for (const name of ['tokenkeeper-api', 'tokenkeeper-worker']) {
      const w = workloads(all).find((x) => x.metadata.name === name)!;
      expect(matches(clientSelector, w.spec.template.metadata.labels), `${name} may reach Redis`).toBe(true);
    }

    const so = all.find((r) => r.kind === 'ScaledObject')!;
    expect(all.some((r) => r.kind === 'Deployment' && r.metadata.name === so.spec.scaleTargetRef.name)).toBe(
      true,
    );
    // The scaler reads the refresh queue's wait list: "<prefix>:{q}:<queue>:wait" (libs/queues/src/queues.ts).
    const queues = read('libs/queues/src/queues.ts');
    const queueName = /TokenRefresh: '([^']+)'/.exec(queues)?.[1];
    const prefixTemplate = /return `\$\{redisPrefix\}([^`]*)`/.exec(queues)?.[1];
    const config = all.find((r) => r.kind === 'ConfigMap' && r.metadata.name === 'tokenkeeper-config')!;
    const trigger = so.spec.triggers[0];
    expect(trigger.type).toBe('redis');
    expect(trigger.metadata.listName).toBe(
      `${config.data.TK_REDIS_PREFIX}${prefixTemplate}:${queueName}:wait`,
    );
    const worker = workloads(all).find((w) => w.metadata.name === 'tokenkeeper-worker')!;
    const workerEnv = worker.spec.template.spec.containers[0].env as Obj[];
    const redisUrl = new URL(workerEnv.find((e) => e.name === 'REDIS_URL')!.value);
    expect(trigger.metadata.address).toMatch(new RegExp(`^${redisUrl.hostname}(\\.|:)`));
    // KEDA signs in as a Redis user too.
    const auth = all.find(
      (r) => r.kind === 'TriggerAuthentication' && r.metadata.name === trigger.authenticationRef?.name,
    );
    expect(auth, 'the ScaledObject trigger has a TriggerAuthentication').toBeDefined();
    const params = (auth!.spec.secretTargetRef as Obj[]).map((r) => r.parameter);
    expect(params.sort()).toEqual(['password', 'username']);
    for (const ref of auth!.spec.secretTargetRef as Obj[]) {
      const secret = all.find((r) => r.kind === 'Secret' && r.metadata.name === ref.name);
      expect(secret?.stringData ?? secret?.data, `Secret ${ref.name}`).toHaveProperty(ref.key);
    }
  });
});

describe('deploy/systemd', () => {
  const unitDir = 'deploy/systemd';
  const units = readdirSync(join(ROOT, unitDir)).filter((f) => f.endsWith('.service'));
  const HARDENING = [
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'CapabilityBoundingSet=',
    'RestrictSUIDSGID=yes',
  ];

  it('has units for api, worker and agent', () => {
    const apps = units.map((u) =>
      expectEntryPoint(/^ExecStart=(.*)$/m.exec(read(`${unitDir}/${u}`))![1]!, u),
    );
    expect(apps.sort()).toEqual(['agent', 'api', 'worker']);
  });

  for (const unit of units) {
    it(`${unit}: hardened, with an EnvironmentFile and writable paths only where needed`, () => {
      const text = read(`${unitDir}/${unit}`);
      for (const option of HARDENING)
        expect(text, option).toMatch(new RegExp(`^${option.replace('=', '=')}\\s*$`, 'm'));
      expect(text).toMatch(/^EnvironmentFile=\S+/m);
      expect(text).toMatch(/^ReadWritePaths=\S+/m);
      expect(text).toMatch(/^User=(?!root)\S+/m);
      const sections = [...text.matchAll(/^\[(\w+)\]/gm)].map((m) => m[1]);
      expect(sections).toEqual(['Unit', 'Service', 'Install']);
    });
  }

  it('example environment files set only variables the apps read', () => {
    const agentVars = placeholders(read(AGENT_EXAMPLE)).all;
    for (const file of readdirSync(join(ROOT, unitDir)).filter((f) => f.endsWith('.env.example'))) {
      for (const [, key] of read(`${unitDir}/${file}`).matchAll(/^([A-Z][A-Z0-9_]*)=/gm)) {
        const known = file.startsWith('agent')
          ? agentVars.has(key!)
          : CONFIG_KEYS.has(key!) || isStandardEnv(key!);
        expect(known, `${file}: ${key}`).toBe(true);
      }
    }
  });
});

describe('docs/operations.md', () => {
  it('describes every setting in libs/common/src/config.ts', () => {
    const docs = read('docs/operations.md');
    const missing = [...CONFIG_KEYS].filter((k) => !new RegExp(`\\b${k}\\b`).test(docs));
    expect(missing, 'settings missing from docs/operations.md').toEqual([]);
  });

  it('documents the CLI exit codes the CLI uses', async () => {
    const { ExitCode } = await import('../../apps/cli/src/exit-codes.js');
    const docs = read('docs/operations.md');
    for (const code of Object.values(ExitCode))
      expect(docs).toMatch(new RegExp(`^\\|\\s*${code}\\s*\\|`, 'm'));
  });

  it('has runbooks for reauth_required, a stuck queue and key rotation', () => {
    const docs = read('docs/operations.md');
    for (const heading of [/^### .*reauth_required/m, /^### .*stuck queue/im, /^### .*key rotation/im]) {
      expect(docs).toMatch(heading);
    }
  });
});

/**
 * Redis is not open and key material is not environment: every shipped deployment (compose, k8s,
 * systemd) connects with its own ACL user and password, the default user is off, protected mode
 * on, and each process gets only the secrets it needs, as read-only 0400 files.
 */
describe('Redis access and key material', () => {
  /** Settings whose value is a secret: never set in a manifest (their *_FILE forms are). */
  const SECRET_VALUES = ['TK_ENCRYPTION_KEYS', 'TK_BOOTSTRAP_ADMIN_KEY', 'TK_API_KEY_HMAC_KEY'];
  const NEEDS: Record<'api' | 'worker', string[]> = {
    api: [
      'TK_ENCRYPTION_KEYS_FILE',
      'TK_BOOTSTRAP_ADMIN_KEY_FILE',
      'TK_API_KEY_HMAC_KEY_FILE',
      'REDIS_PASSWORD_FILE',
    ],
    worker: ['TK_ENCRYPTION_KEYS_FILE', 'REDIS_PASSWORD_FILE'],
  };
  const API_ONLY = ['TK_BOOTSTRAP_ADMIN_KEY_FILE', 'TK_API_KEY_HMAC_KEY_FILE'];
  const conf = redisConfDirectives(read('deploy/redis/redis.conf'));
  const aclFile = conf.get('aclfile');
  const basename = (p: string) => p.split('/').at(-1)!;
  const dirname = (p: string) => p.slice(0, p.lastIndexOf('/'));
  const redisUser = (url: string) => {
    const u = new URL(url);
    expect(u.password, `${url} carries no password (it comes from REDIS_PASSWORD_FILE)`).toBe('');
    return decodeURIComponent(u.username);
  };

  /** ACL `user` lines: the default user off without password; every other user on, with one. */
  function expectAclUsers(text: string, where: string): void {
    const users = new Map(
      [...text.matchAll(/^\s*user\s+(\S+)\s+(.*)$/gm)].map((m) => [m[1]!, m[2]!.split(/\s+/)] as const),
    );
    expect(users.get('default'), `${where}: default user`).toEqual(
      expect.arrayContaining(['off', 'resetpass']),
    );
    expect(users.get('default'), `${where}: default user`).not.toContain('nopass');
    for (const name of ['tokenkeeper-api', 'tokenkeeper-worker'])
      expect(users.has(name), `${where}: ${name}`).toBe(true);
    for (const [name, rules] of users) {
      if (name === 'default') continue;
      expect(rules, `${where}: ${name}`).toContain('on');
      expect(rules, `${where}: ${name}`).not.toContain('nopass');
      expect(
        rules.some((r) => /^[#>]\S+/.test(r) || r.startsWith('#$(')),
        `${where}: ${name} has a password`,
      ).toBe(true);
      if (rules.includes('+@all')) expect(rules, `${where}: ${name} may not administer`).toContain('-@admin');
    }
  }

  it('redis.conf: protected mode on, ACL users from a file, and no open bind without them', () => {
    expect(conf.get('protected-mode')).toBe('yes');
    expect(read('deploy/redis/redis.conf')).not.toMatch(/^\s*protected-mode\s+no/m);
    expect(aclFile, 'redis.conf names an aclfile').toMatch(/^\/\S+$/);
    const bind = conf.get('bind') ?? '';
    if (/(^|\s)(0\.0\.0\.0|\*|::)(\s|$)/.test(bind)) expect(aclFile).toBeDefined();
    expect(conf.has('requirepass')).toBe(false);
    expectAclUsers(read('deploy/redis/users.acl.example'), 'users.acl.example');
    expectAclUsers(read('deploy/generate-secrets.sh'), 'generate-secrets.sh');
  });

  it('docker-compose.yml: own Redis user per process, key material as 0400 secret files, none in env', () => {
    const compose = parse(read('docker-compose.yml'), { merge: true }) as Obj;
    const services = compose.services as Record<string, Obj>;
    const script = read('deploy/generate-secrets.sh');
    for (const [name, def] of Object.entries(compose.secrets as Record<string, Obj>)) {
      expect(def.file, `secret ${name}`).toMatch(/^\.\/secrets\//);
      expect(script, `generate-secrets.sh writes ${def.file}`).toContain(basename(def.file));
    }
    const mounted = (svc: Obj) =>
      new Map(
        ((svc.secrets ?? []) as Obj[]).map((s) => {
          expect(s.mode, `${s.source} is mounted 0400`).toBe(0o400);
          expect(Object.keys(compose.secrets)).toContain(s.source);
          return [
            String(s.target).startsWith('/') ? s.target : `/run/secrets/${s.target}`,
            s.source,
          ] as const;
        }),
      );
    for (const app of ['api', 'worker'] as const) {
      const svc = services[app]!;
      const env = svc.environment as Record<string, string>;
      expect(redisUser(env.REDIS_URL!)).toBe(`tokenkeeper-${app}`);
      for (const key of SECRET_VALUES)
        expect(env, `${app} gets ${key} through the environment`).not.toHaveProperty(key);
      const files = mounted(svc);
      for (const key of NEEDS[app]) {
        expect(env[key], `${app} sets ${key}`).toBeDefined();
        expect(files.has(env[key]!), `${app}: ${key}=${env[key]} is a mounted secret`).toBe(true);
      }
      if (app === 'worker') for (const key of API_ONLY) expect(env).not.toHaveProperty(key);
      if (app === 'worker')
        expect([...files.values()]).not.toEqual(expect.arrayContaining(['bootstrap-admin-key']));
    }
    expect(mounted(services.redis!).has(aclFile!), `redis mounts ${aclFile}`).toBe(true);
    expect(read('docker-compose.yml')).not.toMatch(
      /\$\{TK_(ENCRYPTION_KEYS|BOOTSTRAP_ADMIN_KEY|API_KEY_HMAC_KEY)\b/,
    );
  });

  it('deploy/k8s: no secret through env or envFrom; each process mounts only its own, 0400, read-only', () => {
    const dir = 'deploy/k8s';
    const kustomization = parse(read(`${dir}/kustomization.yaml`)) as Obj;
    const all = (kustomization.resources as string[]).flatMap((f) =>
      parseAllDocuments(read(`${dir}/${f}`)).map((d) => d.toJS() as Obj),
    );
    const secret = (name: string) => all.find((r) => r.kind === 'Secret' && r.metadata.name === name);
    const configMap = all.find((r) => r.kind === 'ConfigMap' && r.metadata.name === 'tokenkeeper-config')!;
    for (const key of SECRET_VALUES) expect(configMap.data).not.toHaveProperty(key);

    for (const app of ['api', 'worker'] as const) {
      const w = all.find((r) => r.kind === 'Deployment' && r.metadata.name === `tokenkeeper-${app}`)!;
      const pod = w.spec.template.spec;
      const c = pod.containers[0] as Obj;
      expect(
        ((c.envFrom ?? []) as Obj[]).filter((e) => e.secretRef),
        `${app} envFrom a Secret`,
      ).toEqual([]);
      for (const e of (c.env ?? []) as Obj[])
        expect(e.valueFrom?.secretKeyRef, `${app} env ${e.name}`).toBeUndefined();
      const env = new Map<string, string>([
        ...(((c.envFrom ?? []) as Obj[]).some((e) => e.configMapRef?.name === 'tokenkeeper-config')
          ? Object.entries(configMap.data as Record<string, string>)
          : []),
        ...((c.env ?? []) as Obj[]).map((e) => [e.name as string, e.value as string] as const),
      ]);
      for (const key of SECRET_VALUES)
        expect(env.has(key), `${app} gets ${key} through the environment`).toBe(false);
      expect(redisUser(env.get('REDIS_URL')!)).toBe(`tokenkeeper-${app}`);
      expect(pod.securityContext.fsGroup, `${app}: files readable by its own user through fsGroup`).toBe(
        pod.securityContext.runAsUser,
      );
      const secretMounts = ((c.volumeMounts ?? []) as Obj[]).flatMap((m) => {
        const volume = (pod.volumes as Obj[]).find((v) => v.name === m.name)!;
        if (!volume.secret) return [];
        expect(m.readOnly, `${app} mounts ${m.name} read-only`).toBe(true);
        expect(volume.secret.defaultMode, `${app} secret ${m.name} is 0400`).toBe(0o400);
        return [{ path: m.mountPath as string, secret: secret(volume.secret.secretName)! }];
      });
      for (const key of NEEDS[app]) {
        const file = env.get(key);
        expect(file, `${app} sets ${key}`).toBeDefined();
        const mount = secretMounts.find((m) => m.path === dirname(file!));
        expect(mount, `${app}: ${key}=${file} lies in a mounted Secret`).toBeDefined();
        expect(mount!.secret.stringData ?? mount!.secret.data).toHaveProperty(basename(file!));
      }
      if (app === 'worker') {
        for (const key of API_ONLY) expect(env.has(key)).toBe(false);
        for (const m of secretMounts) {
          expect(m.secret.stringData ?? m.secret.data).not.toHaveProperty('bootstrap-admin-key');
          expect(m.secret.stringData ?? m.secret.data).not.toHaveProperty('api-key-hmac-key');
        }
      }
    }
    const redis = all.find((r) => r.kind === 'StatefulSet' && r.metadata.name === 'tokenkeeper-redis')!;
    const pod = redis.spec.template.spec;
    const aclMount = (pod.containers[0].volumeMounts as Obj[]).find((m) => m.mountPath === dirname(aclFile!));
    expect(aclMount?.readOnly, `redis mounts ${dirname(aclFile!)} read-only`).toBe(true);
    const aclVolume = (pod.volumes as Obj[]).find((v) => v.name === aclMount!.name)!;
    expect(aclVolume.secret.defaultMode).toBe(0o400);
    const acl = secret(aclVolume.secret.secretName)!.stringData[basename(aclFile!)] as string;
    expectAclUsers(acl, 'Secret tokenkeeper-redis-acl');
  });

  it('deploy/systemd: own Redis user per unit, key material as credentials (0400), none in environment files', () => {
    for (const [app, unit] of [
      ['api', 'tokenkeeper-api.service'],
      ['worker', 'tokenkeeper-worker@.service'],
    ] as const) {
      const text = read(`deploy/systemd/${unit}`);
      const env = new Map(
        [...text.matchAll(/^Environment=([A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.trim()] as const),
      );
      expect(redisUser(env.get('REDIS_URL')!)).toBe(`tokenkeeper-${app}`);
      const credentials = new Set([...text.matchAll(/^LoadCredential=([^:\s]+):\S+$/gm)].map((m) => m[1]!));
      for (const key of NEEDS[app]) {
        const file = /^%d\/(\S+)$/.exec(env.get(key) ?? '')?.[1];
        expect(file, `${unit}: ${key} is a file in the credentials directory`).toBeDefined();
        expect(credentials, `${unit} loads credential ${file}`).toContain(file);
      }
      if (app === 'worker') for (const key of API_ONLY) expect(env.has(key)).toBe(false);
    }
    for (const file of readdirSync(join(ROOT, 'deploy/systemd'))) {
      for (const key of SECRET_VALUES)
        expect(read(`deploy/systemd/${file}`), `${file} sets ${key}`).not.toMatch(
          new RegExp(`^(Environment=)?${key}=`, 'm'),
        );
    }
  });
});
