// The operations pack in deploy/: Prometheus rules that parse as PromQL (promtool: npm run test:alerts), a Grafana dashboard and rules that
// query only metrics the service really exposes, and Kubernetes manifests that hang together.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser as promql } from '@prometheus-io/lezer-promql';
import { parse, parseAllDocuments } from 'yaml';
import { startTestApp, TestApp } from '../helpers/test-app';
import { waitFor } from '../helpers/wait';

const ROOT = join(__dirname, '..', '..');
const RULES = join(ROOT, 'deploy', 'observability', 'alerts.yml');
const DASHBOARD = join(ROOT, 'deploy', 'observability', 'grafana-dashboard.json');
const K8S = join(ROOT, 'deploy', 'k8s');

/** Metric names in PromQL, with histogram and counter series suffixes taken back to the metric's name. */
function metricNames(exprs: string[]): Set<string> {
  const names = new Set<string>();
  for (const e of exprs)
    for (const m of e.match(/\bsmsb_[a-z0-9_]+/g) ?? []) names.add(m.replace(/_(bucket|count|sum)$/, ''));
  return names;
}

describe('observability pack', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({}, { role: 'all' });
  });
  afterAll(() => t?.close());

  const rules = () =>
    (
      parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }
    ).groups.flatMap((g) => g.rules);
  const dashboardExprs = () =>
    (
      JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { targets: { expr: string }[] }[] }
    ).panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr)); // row panels have no queries

  it('has alert rules and dashboard queries that parse as PromQL', () => {
    // Prometheus's own PromQL grammar (the one its web UI uses). promtool's checks and the alerts' unit tests
    // (deploy/observability/alerts.test.yml) run with `npm run test:alerts`, which needs promtool.
    const exprs = [...rules().map((r) => r.expr), ...dashboardExprs()];
    expect(exprs.length).toBeGreaterThan(40);
    const refused = exprs.filter((e) => {
      let errors = 0;
      promql.parse(e).iterate({
        enter: (n) => {
          if (n.type.isError) errors++;
        },
      });
      return errors > 0;
    });
    expect(refused).toEqual([]);
    // The grammar does refuse what promtool would.
    expect(promql.parse('sum(rate(smsb_x_total[5m]) by (job)').toString()).toContain('⚠');
    expect(rules().map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'SmsBridgeQueueBacklog',
        'SmsBridgeAuditBacklog',
        'SmsBridgeJobStale',
        'SmsBridgeOtpBudgetExhausted',
        'SmsBridgeOtpPumpingSuspected',
        'SmsBridgeRedisSlow',
      ]),
    );
  });

  it('queries, in the dashboard and the rules, only metrics /metrics exposes', async () => {
    // The scheduler has run once (role all), so the per-job series exist too.
    await waitFor(
      async () =>
        /smsb_job_heartbeat_age_seconds\{job="worker"\}/.test(
          (await t.request({ url: '/metrics', as: 'none' })).body,
        ),
      'a worker heartbeat on /metrics',
    );
    const exposed = (await t.request({ url: '/metrics', as: 'none' })).body;
    const declared = new Set([...exposed.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const wanted = metricNames([...dashboardExprs(), ...rules().map((r) => r.expr)]);
    expect(wanted.size).toBeGreaterThan(15);
    expect([...wanted].filter((m) => !declared.has(m))).toEqual([]);
    // A name that does not exist is caught (the check can fail).
    expect(declared.has('smsb_no_such_metric')).toBe(false);
  });

  it('lists every manifest in the kustomization, with an HPA for the API and PDBs for both processes', () => {
    const kustomization = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    const docs = kustomization.resources.flatMap((file) =>
      parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map(
        (d) => d.toJS() as { kind: string; metadata: { name: string }; spec: Record<string, any> },
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
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'sms-bridge-api',
    });
    // The HPA owns the API's replica count: a fixed one in the Deployment would fight it on every apply.
    expect(byName('Deployment', 'sms-bridge-api').spec.replicas).toBeUndefined();
    for (const component of ['api', 'worker']) {
      const pdb = byName('PodDisruptionBudget', `sms-bridge-${component}`);
      const deployment = byName('Deployment', `sms-bridge-${component}`);
      expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    }
  });
});
