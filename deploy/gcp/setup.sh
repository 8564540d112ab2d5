#!/usr/bin/env bash
# Runs the callout image on GKE as the Service Extensions callout backend of an existing regional
# Application Load Balancer: the pods (deploy/kubernetes, plus a network endpoint group), an
# HTTP/2 backend service with a health check on the server's health port, the firewall rule, and
# a traffic extension. README.md walks through the same commands.
#
# Needs gcloud, kubectl and openssl, a project with billing, a VPC-native GKE cluster, and a load
# balancer in the same region and network. Safe to re-run: existing resources are left as they
# are.
set -euo pipefail

# ---- SUBSTITUTE these for your project and load balancer ----------------------------------------
PROJECT_ID="my-project"                   # SUBSTITUTE
REGION="us-west1"                         # SUBSTITUTE: the load balancer's region
CLUSTER="callout-cluster"                 # SUBSTITUTE: a VPC-native GKE cluster in NETWORK
CLUSTER_LOCATION="us-west1"               # SUBSTITUTE: the cluster's region (or zone)
NETWORK="lb-network"                      # SUBSTITUTE: the VPC network of cluster and load balancer
NODE_TAG="gke-callout-cluster-node"       # SUBSTITUTE: a network tag on the cluster's nodes (README)
PROXY_ONLY_SUBNET_RANGE="10.129.0.0/23"   # SUBSTITUTE: the region's proxy-only subnet range
FORWARDING_RULE="l7-ilb-forwarding-rule"  # SUBSTITUTE: the load balancer's forwarding rule
LB_SCHEME="INTERNAL_MANAGED"              # SUBSTITUTE: INTERNAL_MANAGED or EXTERNAL_MANAGED
IMAGE="ghcr.io/extproc-java/extproc-java:latest"  # SUBSTITUTE: yours
SAMPLE="add-header"                       # the bundled sample to run (CALLOUT_SAMPLE)

# ---- Names of what this script creates (NEG_NAME must match gke/service-neg.yaml) ---------------
NEG_NAME="extproc-callout-neg"
HEALTH_CHECK="extproc-callout-hc"
BACKEND_SERVICE="extproc-callout-backend"
FIREWALL_RULE="extproc-callout-allow-lb"
EXTENSION="extproc-callout-traffic"

HERE="$(cd "$(dirname "$0")" && pwd)"

gcloud config set project "$PROJECT_ID"
gcloud services enable compute.googleapis.com container.googleapis.com \
  networkservices.googleapis.com

# 1. The callout pods, with a TLS certificate. The load balancer speaks HTTP/2 over TLS to port
#    8443 and does not verify the certificate by default, so a self-signed one will do.
gcloud container clusters get-credentials "$CLUSTER" --location="$CLUSTER_LOCATION"
if ! kubectl get secret callout-tls >/dev/null 2>&1; then
  tls_dir="$(mktemp -d)"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
    -subj "/CN=extproc-callout" -keyout "$tls_dir/key.pem" -out "$tls_dir/tls.crt"
  # The server reads PKCS#8 keys only.
  openssl pkcs8 -topk8 -nocrypt -in "$tls_dir/key.pem" -out "$tls_dir/tls.key"
  kubectl create secret tls callout-tls --cert="$tls_dir/tls.crt" --key="$tls_dir/tls.key"
  rm -rf "$tls_dir"
fi
kubectl apply -k "$HERE/gke"
kubectl set image deployment/extproc-callout callout="$IMAGE"
kubectl set env deployment/extproc-callout CALLOUT_SAMPLE="$SAMPLE"
kubectl rollout status deployment/extproc-callout --timeout=5m

# GKE's NEG controller creates one zonal NEG per zone with callout pods; wait for them.
neg_zones=""
for _ in $(seq 1 60); do
  neg_zones="$(gcloud compute network-endpoint-groups list \
    --filter="name=$NEG_NAME" --format="value(zone.basename())")"
  [ -n "$neg_zones" ] && break
  sleep 10
done
if [ -z "$neg_zones" ]; then
  echo "no network endpoint group named $NEG_NAME after 10 minutes" >&2
  exit 1
fi

# 2. The health check: HTTP on the server's health port; any path answers 200 while serving and
#    503 while draining. It marks a pod down after interval x unhealthy threshold = 10 s, inside
#    the server's 15 s drain delay (CALLOUT_SHUTDOWN_DRAIN_DELAY), during which it still serves.
if ! gcloud compute health-checks describe "$HEALTH_CHECK" --region="$REGION" >/dev/null 2>&1; then
  gcloud compute health-checks create http "$HEALTH_CHECK" \
    --region="$REGION" \
    --port=8000 \
    --request-path=/ \
    --check-interval=5s \
    --unhealthy-threshold=2
fi

# 3. The backend service: HTTP2 means HTTP/2 over TLS, what a callout backend must speak. Its
#    backends are the NEGs, whose endpoints are the pods' port 8443.
if ! gcloud compute backend-services describe "$BACKEND_SERVICE" --region="$REGION" \
    >/dev/null 2>&1; then
  gcloud compute backend-services create "$BACKEND_SERVICE" \
    --region="$REGION" \
    --load-balancing-scheme="$LB_SCHEME" \
    --protocol=HTTP2 \
    --health-checks="$HEALTH_CHECK" \
    --health-checks-region="$REGION"
fi
attached="$(gcloud compute backend-services describe "$BACKEND_SERVICE" --region="$REGION" \
  --format="value(backends[].group)")"
for zone in $neg_zones; do
  if [[ "$attached" != *"/zones/$zone/networkEndpointGroups/$NEG_NAME"* ]]; then
    gcloud compute backend-services add-backend "$BACKEND_SERVICE" \
      --region="$REGION" \
      --network-endpoint-group="$NEG_NAME" \
      --network-endpoint-group-zone="$zone" \
      --balancing-mode=RATE \
      --max-rate-per-endpoint=1000
  fi
done

# 4. The firewall: health checks come from Google's ranges, callouts of a regional load balancer
#    from its proxy-only subnet. Both reach the pods on the health and TLS gRPC ports.
if ! gcloud compute firewall-rules describe "$FIREWALL_RULE" >/dev/null 2>&1; then
  gcloud compute firewall-rules create "$FIREWALL_RULE" \
    --network="$NETWORK" \
    --direction=INGRESS \
    --action=ALLOW \
    --rules=tcp:8000,tcp:8443 \
    --source-ranges="35.191.0.0/16,130.211.0.0/22,$PROXY_ONLY_SUBNET_RANGE" \
    --target-tags="$NODE_TAG"
fi

# 5. The traffic extension, from traffic-extension.yaml with its placeholders filled in. Import
#    creates it or replaces an existing one of that name.
extension_yaml="$(mktemp)"
sed -e "s|PROJECT_ID|$PROJECT_ID|g" \
  -e "s|regions/REGION/|regions/$REGION/|g" \
  -e "s|FORWARDING_RULE|$FORWARDING_RULE|g" \
  -e "s|backendServices/extproc-callout-backend|backendServices/$BACKEND_SERVICE|g" \
  -e "s|^loadBalancingScheme: .*|loadBalancingScheme: $LB_SCHEME|" \
  -e "s|^name: .*|name: $EXTENSION|" \
  "$HERE/traffic-extension.yaml" >"$extension_yaml"
gcloud service-extensions lb-traffic-extensions import "$EXTENSION" \
  --source="$extension_yaml" \
  --location="$REGION" \
  --quiet
rm -f "$extension_yaml"

echo "Done. Backend health:"
gcloud compute backend-services get-health "$BACKEND_SERVICE" --region="$REGION"
