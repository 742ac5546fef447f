#!/usr/bin/env bash
# End to end on a real cluster: a kind cluster, the chart with its built-in Redis, the example
# policy, an opted-in agent Deployment (2 replicas) whose sidecars must hold one free user to the
# free tier's burst of 5 across both pods, and 429s for the rest.
#
# Needs Docker, kind, kubectl and helm. It cannot run on machines without a Docker engine (such as
# the project's build machines); .github/workflows/e2e-kind.yml runs it on GitHub's runners.
set -euo pipefail
cd "$(dirname "$0")/../.."
CLUSTER=${CLUSTER:-ratekeeper-e2e}

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "e2e/kind/run.sh needs $tool (and a Docker engine)" >&2; exit 2; }
done
docker info >/dev/null 2>&1 || { echo "e2e/kind/run.sh needs a running Docker engine" >&2; exit 2; }

step() { echo; echo "== $*"; }

step "building the jars"
./mvnw -q -B -pl operator,sidecar,demo -am package -DskipTests

step "building the images"
docker build -q -f images/operator.Dockerfile -t ratekeeper-operator:e2e .
docker build -q -f images/sidecar.Dockerfile -t ratekeeper-sidecar:e2e .
docker build -q -f e2e/kind/stub.Dockerfile -t ratekeeper-stub:e2e .

step "creating kind cluster $CLUSTER"
kind create cluster --name "$CLUSTER" --wait 120s
trap 'kind delete cluster --name "$CLUSTER"' EXIT
for image in ratekeeper-operator:e2e ratekeeper-sidecar:e2e ratekeeper-stub:e2e; do
  kind load docker-image --name "$CLUSTER" "$image"
done

step "installing the chart"
kubectl create namespace agents
helm install ratekeeper helm/ratekeeper --namespace ratekeeper --create-namespace --wait --timeout 5m \
  -f e2e/kind/values.yaml
helm test ratekeeper --namespace ratekeeper

step "applying the example policy (upstreams pointed at the in-cluster stub provider)"
kubectl apply -f e2e/kind/stub.yaml
kubectl -n agents rollout status deployment/stub-provider --timeout 120s
sed -e 's#url: https://api.anthropic.com#url: http://stub-provider.agents.svc:9001#' \
    -e 's#url: https://api.openai.com#url: http://stub-provider.agents.svc:9001#' examples/policy.yaml \
  | kubectl apply -n agents -f -
kubectl -n agents wait rlp/agents --for=condition=Accepted --timeout 60s

step "running the agent (2 replicas, one free user)"
kubectl apply -f e2e/kind/agent.yaml
kubectl -n agents rollout status deployment/agent --timeout 180s
kubectl -n agents wait rlp/agents --for=condition=Enforced --timeout 60s
kubectl -n agents get rlp

step "checking: 5 admitted across both replicas, the rest 429"
deadline=$((SECONDS + 120))
while :; do
  logs=$(kubectl -n agents logs -l app=agent -c agent --tail=-1 2>/dev/null || true)
  done_count=$(grep -c 'request 20:' <<<"$logs" || true)
  [ "$done_count" -ge 2 ] && break
  [ $SECONDS -ge $deadline ] && { echo "agents did not finish"; echo "$logs"; exit 1; }
  sleep 2
done
ok=$(grep -c ': 200$' <<<"$logs" || true)
limited=$(grep -c ': 429$' <<<"$logs" || true)
echo "admitted $ok, throttled $limited (of 40)"
# free tier: burst 5, then one every 6 s; the run takes a few seconds, so allow the refill
if [ "$ok" -lt 5 ] || [ "$ok" -gt 8 ] || [ "$limited" -lt 32 ]; then
  echo "FAILED: expected about 5 admitted and the rest throttled"; exit 1
fi
echo "1 passed, 0 failed"
