// The operations pack in deploy/: Prometheus rules that promtool accepts and whose unit tests pass, a Grafana
// dashboard and rules that query only metrics (and labels) the service really exposes, and Kubernetes
// manifests that hang together.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { Env } from '../../src/config/env';
import { MetricsService } from '../../src/metrics/metrics.service';
import { randomMobile } from '../helpers/numbers';
import { startTestApp, TestApp } from '../helpers/test-app';
import { waitFor } from '../helpers/wait';

const ROOT = join(__dirname, '..', '..');
const RULES = join(ROOT, 'deploy', 'observability', 'alerts.yml');
const RULE_TESTS = join(ROOT, 'deploy', 'observability', 'alerts.test.yml');
const DASHBOARD = join(ROOT, 'deploy', 'observability', 'grafana-dashboard.json');
const K8S = join(ROOT, 'deploy', 'k8s');

/** Runs promtool; fails (never skips) when it is missing, naming the fix. */
function promtool(...args: string[]): string {
  try {
    return execFileSync('promtool', args, { encoding: 'utf8' });
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error(
        "promtool is missing: install Debian's prometheus package " +
          '(apt-get install --no-install-recommends prometheus; .ci/run does it)',
      );
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** A metric reference in PromQL with a histogram or counter series suffix taken back to the metric's name. */
const baseName = (m: string) => m.replace(/_(bucket|count|sum)$/, '');

/** Metric names in PromQL. */
function metricNames(exprs: string[]): Set<string> {
  const names = new Set<string>();
  for (const e of exprs) for (const m of e.match(/\bsmsb_[a-z0-9_]+/g) ?? []) names.add(baseName(m));
  return names;
}

/** The text of the parenthesised argument that starts at or after `from` (for `sum by (x) (argument)`). */
function argumentAfter(expr: string, from: number): string {
  const open = expr.indexOf('(', from);
  if (open < 0) return '';
  let depth = 0;
  for (let i = open; i < expr.length; i++) {
    if (expr[i] === '(') depth++;
    else if (expr[i] === ')' && --depth === 0) return expr.slice(open + 1, i);
  }
  return expr.slice(open + 1);
}

interface LabelUse {
  expr: string;
  metric: string;
  label: string;
  /** The value of an equality matcher (`label="value"`), if it is one. */
  value?: string;
}

/**
 * Every label an expression relies on, with the metric it must be found on: the label matchers of each
 * selector, and the labels of each `by (...)` (for every metric aggregated) and `on (...)` (for every metric
 * in the expression). `le` is the bucket label of histograms.
 */
function labelUses(expr: string): LabelUse[] {
  const uses: LabelUse[] = [];
  for (const sel of expr.matchAll(/\b(smsb_[a-z0-9_]+)\{([^}]*)\}/g))
    for (const m of sel[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"([^"]*)"/g))
      uses.push({ expr, metric: sel[1], label: m[1], value: m[2] === '=' ? m[3] : undefined });
  for (const g of expr.matchAll(/\b(by|without|on|ignoring)\s*\(([^)]*)\)/g)) {
    const scope = g[1] === 'by' || g[1] === 'without' ? argumentAfter(expr, g.index + g[0].length) : expr;
    for (const label of g[2].split(',').map((l) => l.trim()))
      for (const metric of scope.match(/\bsmsb_[a-z0-9_]+/g) ?? [])
        if (label && !(label === 'le' && metric.endsWith('_bucket'))) uses.push({ expr, metric, label });
  }
  return uses;
}

interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

describe('observability pack', () => {
  let t: TestApp;
  beforeAll(async () => {
    // Role all: the worker's metrics are registered in this process too, and its scheduled jobs beat.
    t = await startTestApp({}, { role: 'all' });
  });
  afterAll(() => t?.close());

  const rules = () =>
    (
      parse(readFileSync(RULES, 'utf8')) as {
        groups: { rules: { alert: string; expr: string; for?: string; labels: Record<string, string> }[] }[];
      }
    ).groups.flatMap((g) => g.rules);
  const dashboard = () =>
    JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      templating: { list: { name: string; type: string; query: string }[] };
      panels: Panel[];
    };
  const panels = () => dashboard().panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const dashboardExprs = () => panels().flatMap((p) => (p.targets ?? []).map((x) => x.expr));
  const allExprs = () => [...dashboardExprs(), ...rules().map((r) => r.expr)];

  it('has alert rules promtool accepts, each with a severity, a summary and a description', () => {
    expect(promtool('check', 'rules', RULES)).toMatch(/SUCCESS: \d+ rules found/);
    const all = rules();
    expect(all.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'SmsBridgeQueueBacklog',
        'SmsBridgeQueueStalled',
        'SmsBridgeAuditBacklog',
        'SmsBridgeJobStale',
        'SmsBridgeWorkerMissing',
        'SmsBridgeOtpBudgetNearlyExhausted',
        'SmsBridgeOtpBudgetExhausted',
        'SmsBridgeOtpPumpingSuspected',
        'SmsBridgeOtpSendSpike',
        'SmsBridgeRedisDown',
        'SmsBridgeRedisSlow',
      ]),
    );
    for (const r of all) {
      expect([r.alert, r.labels.severity]).toEqual([r.alert, expect.stringMatching(/^(warning|critical)$/)]);
      const a = (r as unknown as { annotations: Record<string, string> }).annotations;
      expect([r.alert, !!a.summary, !!a.description]).toEqual([r.alert, true, true]);
    }
  });

  it("passes the rules' unit tests (promtool test rules: they fire, and stay silent, on made-up series)", () => {
    expect(promtool('test', 'rules', RULE_TESTS)).toMatch(/SUCCESS/);
  });

  it('warns at 80% of the default hourly OTP budget', () => {
    const nearly = rules().find((r) => r.alert === 'SmsBridgeOtpBudgetNearlyExhausted')!;
    const threshold = Number(/>\s*(\d+)\s*$/.exec(nearly.expr)![1]);
    // Rules take no parameters: a change to the default must change the rule (and docs/observability.md).
    expect(threshold).toBe(0.8 * new Env().OTP_MAX_SENDS_PER_HOUR);
  });

  it('has a dashboard whose every query is PromQL on the data source variable', () => {
    const d = dashboard();
    expect(d.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
    const queried = panels().filter((p) => p.type !== 'row');
    expect(queried.length).toBeGreaterThan(20);
    for (const p of queried) {
      expect([p.title, p.datasource?.uid]).toEqual([p.title, '${datasource}']);
      expect([p.title, p.targets?.length]).toEqual([p.title, expect.any(Number)]);
      for (const target of p.targets!)
        expect([p.title, target.datasource?.uid]).toEqual([p.title, '${datasource}']);
    }
    // promtool parses every query as a recording rule: a typo in PromQL fails here, not in Grafana.
    const dir = mkdtempSync(join(tmpdir(), 'smsb-dashboard-'));
    try {
      const file = join(dir, 'dashboard-queries.yml');
      const exprs = dashboardExprs();
      writeFileSync(
        file,
        stringify({
          groups: [
            { name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr })) },
          ],
        }),
      );
      expect(promtool('check', 'rules', file)).toContain(`SUCCESS: ${exprs.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('queries, in the dashboard and the rules, only metrics and labels /metrics exposes', async () => {
    // Some traffic, so that the labelled series the queries match on exist: an OTP sent (the worker sends
    // it) and verified.
    const mobile = randomMobile();
    const sent = await t.request({
      method: 'POST',
      url: '/otp/send',
      payload: { mobile_number: mobile, channel: 'sms' },
    });
    expect([sent.statusCode, sent.body]).toEqual([200, expect.any(String)]);
    const [row] = await t.app
      .get(DataSource)
      .query('SELECT body FROM messages WHERE id = $1', [sent.json().message_id]);
    const code = /(\d{6})/.exec(row.body)![1];
    const verified = await t.request({
      method: 'POST',
      url: '/otp/verify',
      payload: { mobile_number: mobile, otp: code },
    });
    expect(verified.statusCode).toBe(200);
    // The scheduler has run once (role all), so the per-job series exist too.
    await waitFor(
      async () =>
        /smsb_job_heartbeat_age_seconds\{job="worker"\}/.test(
          (await t.request({ url: '/metrics', as: 'none' })).body,
        ),
      'a worker heartbeat on /metrics',
    );
    const exposed = (await t.request({ url: '/metrics', as: 'none' })).body;

    // Names: every metric queried is declared (prom-client prints # TYPE for every registered metric).
    const declared = new Set([...exposed.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const wanted = metricNames(allExprs());
    expect(wanted.size).toBeGreaterThan(20);
    expect([...wanted].filter((m) => !declared.has(m))).toEqual([]);
    expect(declared.has('smsb_no_such_metric')).toBe(false);

    // Labels: every label matched on or grouped by is one of the metric's label names. Prometheus adds the
    // target labels `instance` and `job` to every series at scrape; a metric's own label of that name is
    // stored as `exported_<name>` (honor_labels: false, the default), so queries must say exported_job.
    const TARGET_LABELS = ['instance', 'job'];
    const own = new Map(
      (
        t.app.get(MetricsService).registry.getMetricsAsArray() as unknown as {
          name: string;
          labelNames?: string[];
        }[]
      ).map((m) => [m.name, new Set(m.labelNames ?? [])]),
    );
    /** The label as the service exposes it, or why the query cannot use it. */
    const resolve = (metric: string, label: string): { exposedAs: string } | { error: string } => {
      const labels = own.get(baseName(metric)) ?? new Set<string>();
      const exported = /^exported_(.+)$/.exec(label)?.[1];
      if (exported && TARGET_LABELS.includes(exported) && labels.has(exported))
        return { exposedAs: exported };
      if (TARGET_LABELS.includes(label))
        return labels.has(label)
          ? { error: `${metric}'s own label ${label} is stored as exported_${label}` }
          : { exposedAs: label };
      return labels.has(label) ? { exposedAs: label } : { error: `${metric} has no label ${label}` };
    };
    const uses = allExprs().flatMap(labelUses);
    expect(uses.length).toBeGreaterThan(30);
    const wrongLabels = uses.flatMap((u) => {
      const r = resolve(u.metric, u.label);
      return 'error' in r ? [`${r.error} (in ${u.expr})`] : [];
    });
    expect(wrongLabels).toEqual([]);
    // The check can fail: a made-up label, and the heartbeat's own `job` label used as is, are caught.
    expect(labelUses('sum by (country) (rate(smsb_otp_sends_total[5m]))')).toContainEqual(
      expect.objectContaining({ metric: 'smsb_otp_sends_total', label: 'country' }),
    );
    expect(resolve('smsb_otp_sends_total', 'country')).toHaveProperty('error');
    expect(resolve('smsb_job_heartbeat_age_seconds', 'job')).toHaveProperty('error');

    // Values: every `label="value"` matcher on a label the service sets matches a series the app exposes.
    const missingValues = uses.flatMap((u) => {
      const r = resolve(u.metric, u.label);
      if (u.value === undefined || !('exposedAs' in r) || !own.get(baseName(u.metric))?.has(r.exposedAs))
        return [];
      const series = new RegExp(`^${u.metric}\\{[^}]*\\b${r.exposedAs}="${u.value}"`, 'm');
      return series.test(exposed) ? [] : [`no ${u.metric}{${r.exposedAs}="${u.value}"} on /metrics`];
    });
    expect([...new Set(missingValues)]).toEqual([]);
  });

  it('lists every manifest in the kustomization, with an HPA for the API and PDBs for both processes', () => {
    const kustomization = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    const docs = kustomization.resources.flatMap((file) =>
      parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map(
        (d) =>
          d.toJS() as {
            apiVersion: string;
            kind: string;
            metadata: { name: string };
            spec: Record<string, any>;
          },
      ),
    );
    const kinds = docs.map((d) => `${d.kind}/${d.metadata.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Deployment/sms-bridge-api',
        'Deployment/sms-bridge-worker',
        'HorizontalPodAutoscaler/sms-bridge-api',
        'PodDisruptionBudget/sms-bridge-api',
        'PodDisruptionBudget/sms-bridge-worker',
      ]),
    );
    const byName = (kind: string, name: string) =>
      docs.find((d) => d.kind === kind && d.metadata.name === name)!;
    const hpa = byName('HorizontalPodAutoscaler', 'sms-bridge-api');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'sms-bridge-api',
    });
    // CPU utilisation is measured against the container's CPU request: without one the HPA cannot scale.
    expect(hpa.spec.metrics).toContainEqual({
      type: 'Resource',
      resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: expect.any(Number) } },
    });
    const api = byName('Deployment', 'sms-bridge-api');
    for (const c of api.spec.template.spec.containers) expect(c.resources?.requests?.cpu).toBeDefined();
    // The HPA owns the API's replica count: a fixed one in the Deployment would fight it on every apply.
    expect(api.spec.replicas).toBeUndefined();
    for (const component of ['api', 'worker']) {
      const pdb = byName('PodDisruptionBudget', `sms-bridge-${component}`);
      const deployment = byName('Deployment', `sms-bridge-${component}`);
      expect(pdb.apiVersion).toBe('policy/v1');
      expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
      expect(deployment.spec.template.metadata.labels).toEqual(
        expect.objectContaining(pdb.spec.selector.matchLabels),
      );
    }
    // A PDB that can never be satisfied blocks every drain: the API keeps fewer than its minimum replicas.
    expect(byName('PodDisruptionBudget', 'sms-bridge-api').spec.minAvailable).toBeLessThan(
      hpa.spec.minReplicas,
    );
  });
});
