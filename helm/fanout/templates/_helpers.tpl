{{/*
Names, labels and the pieces both Deployments share.
*/}}

{{- define "fanout.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "fanout.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "fanout.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "fanout.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: fanout
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "edge") */}}
{{- define "fanout.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fanout.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "fanout.componentLabels" -}}
{{ include "fanout.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "fanout.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "fanout.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "fanout.edge.headlessName" -}}
{{- printf "%s-edge-headless" (include "fanout.fullname" .) -}}
{{- end -}}

{{- define "fanout.edge.headlessFqdn" -}}
{{- printf "%s.%s.svc.%s" (include "fanout.edge.headlessName" .) .Release.Namespace .Values.clusterDomain -}}
{{- end -}}

{{/*
Environment of the edge only: what differs from pod to pod in its membership (the configuration
file is shared). Kubernetes expands $(POD_IP) from the variable set before it.
*/}}
{{- define "fanout.edge.env" -}}
- name: HEADLESS_SERVICE
  value: {{ include "fanout.edge.headlessFqdn" . }}
{{- with .Values.config.cluster }}
{{- if not .advertisedUrl }}
- name: FANOUT_CLUSTER_ADVERTISED_URL
  value: {{ printf "http://$(POD_IP):%v" $.Values.config.edge.port | quote }}
{{- end }}
{{- if and (eq .membership "dns") (not .memberId) }}
- name: FANOUT_CLUSTER_MEMBER_ID
  value: $(POD_IP)
{{- end }}
{{- end }}
{{- with include "fanout.bridge.leaseSecret" . }}
- name: FANOUT_EDGE_RESOURCES_BRIDGE_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.bridge.leaseToken.secretKey }}
{{- end }}
{{- end -}}

{{- define "fanout.bridge.headlessName" -}}
{{- printf "%s-bridge-headless" (include "fanout.fullname" .) -}}
{{- end -}}

{{/*
The Secret holding the shared lease token of edges and bridges (config.bridge.leaseToken,
config.edge.resources.bridgeToken): bridge.leaseToken.existingSecret, else the one the chart
creates; nothing when the bridge is off or neither is asked for.
*/}}
{{- define "fanout.bridge.leaseSecret" -}}
{{- if .Values.bridge.enabled -}}
{{- if .Values.bridge.leaseToken.existingSecret -}}
{{- .Values.bridge.leaseToken.existingSecret -}}
{{- else if .Values.bridge.leaseToken.create -}}
{{- printf "%s-bridge-lease" (include "fanout.fullname" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "fanout.image" -}}
{{- $component := index .root.Values .component -}}
{{- $repository := $component.image.repository -}}
{{- if .root.Values.image.registry -}}
{{- $repository = printf "%s/%s" .root.Values.image.registry $repository -}}
{{- end -}}
{{- if $component.image.digest -}}
{{- printf "%s@%s" $repository $component.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .root.Chart.AppVersion $component.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Strimzi Kafka cluster name. */}}
{{- define "fanout.strimzi.clusterName" -}}
{{- default (printf "%s-kafka" (include "fanout.fullname" .)) .Values.kafka.strimzi.clusterName -}}
{{- end -}}

{{/* Fails unless the cluster serves an API the values ask for: (dict "root" $ "api" "x/v1/Kind" "for" "value.path") */}}
{{- define "fanout.requireApi" -}}
{{- if not (.root.Capabilities.APIVersions.Has .api) -}}
{{- fail (printf "%s is enabled, but the cluster does not serve %s: install its operator/CRDs first (with helm template, pass --api-versions %s)" .for .api .api) -}}
{{- end -}}
{{- end -}}

{{/* Bootstrap servers and TLS of the Kafka the services use. */}}
{{- define "fanout.kafka.brokers" -}}
{{- if eq .Values.kafka.mode "strimzi" -}}
{{- $port := ternary 9093 9092 .Values.kafka.strimzi.tls -}}
{{- list (printf "%s-kafka-bootstrap.%s.svc:%d" (include "fanout.strimzi.clusterName" .) .Release.Namespace $port) | toJson -}}
{{- else -}}
{{- if empty .Values.kafka.external.bootstrapServers -}}
{{- fail "kafka.external.bootstrapServers is empty: set the bootstrap servers (host:port) of your Kafka cluster, or kafka.mode=strimzi for an in-cluster Kafka" -}}
{{- end -}}
{{- .Values.kafka.external.bootstrapServers | toJson -}}
{{- end -}}
{{- end -}}

{{- define "fanout.kafka.tls" -}}
{{- if eq .Values.kafka.mode "strimzi" -}}
{{- .Values.kafka.strimzi.tls -}}
{{- else -}}
{{- .Values.kafka.external.tls.enabled -}}
{{- end -}}
{{- end -}}

{{/* The CA Secret and key the Kafka clients trust, or nothing. */}}
{{- define "fanout.kafka.caSecret" -}}
{{- if and (eq .Values.kafka.mode "strimzi") .Values.kafka.strimzi.tls -}}
{{- printf "%s-cluster-ca-cert" (include "fanout.strimzi.clusterName" .) -}}
{{- else if and (eq .Values.kafka.mode "external") .Values.kafka.external.tls.enabled -}}
{{- .Values.kafka.external.tls.caSecret -}}
{{- end -}}
{{- end -}}

{{- define "fanout.kafka.caKey" -}}
{{- if eq .Values.kafka.mode "strimzi" -}}ca.crt{{- else -}}{{ .Values.kafka.external.tls.caKey }}{{- end -}}
{{- end -}}

{{/*
The configuration file both services read (FANOUT_CONFIG_FILE): values.config plus the Kafka
keys the chart owns. Secret keys are never in it.
*/}}
{{- define "fanout.configJson" -}}
{{- $config := deepCopy .Values.config -}}
{{- $kafka := get $config "kafka" | default dict -}}
{{- $_ := set $kafka "brokers" (include "fanout.kafka.brokers" . | fromJsonArray) -}}
{{- $_ := set $kafka "ssl" (eq (include "fanout.kafka.tls" .) "true") -}}
{{- if eq .Values.kafka.mode "external" -}}
{{- $sasl := .Values.kafka.external.sasl -}}
{{- $_ := set $kafka "saslMechanism" $sasl.mechanism -}}
{{- if ne $sasl.mechanism "none" -}}
{{- if not $sasl.username -}}
{{- fail (printf "kafka.external.sasl.username must be set when kafka.external.sasl.mechanism is %s" $sasl.mechanism) -}}
{{- end -}}
{{- if and (not $sasl.password) (not $sasl.existingSecret) -}}
{{- fail (printf "kafka.external.sasl.password or kafka.external.sasl.existingSecret must be set when kafka.external.sasl.mechanism is %s" $sasl.mechanism) -}}
{{- end -}}
{{- $_ := set $kafka "saslUsername" $sasl.username -}}
{{- end -}}
{{- end -}}
{{- $_ := set $config "kafka" $kafka -}}
{{- with $config.cluster -}}
{{- if and (eq .membership "kubernetes") (not .kubernetesService) -}}
{{- $_ := set . "kubernetesService" (include "fanout.edge.headlessName" $) -}}
{{- end -}}
{{- if and (eq .membership "dns") (not .dnsName) -}}
{{- $_ := set . "dnsName" (include "fanout.edge.headlessFqdn" $) -}}
{{- end -}}
{{- end -}}
{{- /* With the bridge on, edges find it by the EndpointSlices of its headless Service. */ -}}
{{- if .Values.bridge.enabled -}}
{{- with $config.edge.resources -}}
{{- if and (not .bridgeKubernetesService) (not .bridgeDnsName) (empty .bridges) -}}
{{- $_ := set . "bridgeKubernetesService" (include "fanout.bridge.headlessName" $) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toPrettyJson $config -}}
{{- end -}}

{{/* `kafka.clientId` → `FANOUT_KAFKA_CLIENT_ID`, as the services name their variables. */}}
{{- define "fanout.envName" -}}
{{- printf "FANOUT_%s" (regexReplaceAll "([a-z0-9])([A-Z])" . "${1}_${2}" | replace "." "_" | upper) -}}
{{- end -}}

{{/* Adds the non-empty string leaves of a secretConfig subtree to .out: (dict "prefix" "auth" "node" $map "out" $dict) */}}
{{- define "fanout.collectSecrets" -}}
{{- $ctx := . -}}
{{- range $key, $value := .node -}}
{{- $path := ternary $key (printf "%s.%s" $ctx.prefix $key) (eq $ctx.prefix "") -}}
{{- if kindIs "map" $value -}}
{{- include "fanout.collectSecrets" (dict "prefix" $path "node" $value "out" $ctx.out) -}}
{{- else if and (kindIs "string" $value) $value -}}
{{- $_ := set $ctx.out (include "fanout.envName" $path) $value -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The secret environment of the services: FANOUT_* name → value, non-empty ones only. */}}
{{- define "fanout.secretEnv" -}}
{{- $out := dict -}}
{{- include "fanout.collectSecrets" (dict "prefix" "" "node" .Values.secretConfig "out" $out) -}}
{{- if and (eq .Values.kafka.mode "external") (ne .Values.kafka.external.sasl.mechanism "none") (not .Values.kafka.external.sasl.existingSecret) -}}
{{- $_ := set $out "FANOUT_KAFKA_SASL_PASSWORD" .Values.kafka.external.sasl.password -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Pod annotations that roll the pods when the configuration or the secret changes. */}}
{{- define "fanout.checksums" -}}
checksum/config: {{ include "fanout.configJson" . | sha256sum }}
checksum/secret: {{ include "fanout.secretEnv" . | sha256sum }}
{{- end -}}

{{/* Seconds from SIGTERM to the end of the drain, plus margin: terminationGracePeriodSeconds. */}}
{{- define "fanout.gracePeriod" -}}
{{- $component := index .root.Values .component -}}
{{- $drainMs := int (index .root.Values.config .component).shutdownTimeoutMs -}}
{{- add $component.preStopSleepSeconds (div (add $drainMs 999) 1000) 5 -}}
{{- end -}}

{{/* Topology spread over zones and nodes unless the values give their own. */}}
{{- define "fanout.topologySpread" -}}
{{- $component := index .root.Values .component -}}
{{- if $component.topologySpreadConstraints -}}
{{ toYaml $component.topologySpreadConstraints }}
{{- else -}}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "fanout.selectorLabels" . | nindent 6 }}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "fanout.selectorLabels" . | nindent 6 }}
{{- end -}}
{{- end -}}

{{/* Environment common to both containers. */}}
{{- define "fanout.commonEnv" -}}
- name: FANOUT_CONFIG_FILE
  value: /etc/fanout/config.json
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- if include "fanout.kafka.caSecret" . }}
- name: NODE_EXTRA_CA_CERTS
  value: /etc/fanout/kafka-ca/ca.crt
{{- end }}
{{- if and (eq .Values.kafka.mode "external") (ne .Values.kafka.external.sasl.mechanism "none") .Values.kafka.external.sasl.existingSecret }}
- name: FANOUT_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.external.sasl.existingSecret }}
      key: {{ .Values.kafka.external.sasl.existingSecretKey }}
{{- end }}
{{- end -}}

{{- define "fanout.envFrom" -}}
- secretRef:
    name: {{ include "fanout.fullname" . }}
{{- with .Values.secrets.existingSecret }}
- secretRef:
    name: {{ . }}
{{- end }}
{{- end -}}

{{- define "fanout.volumeMounts" -}}
- name: config
  mountPath: /etc/fanout/config.json
  subPath: config.json
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if include "fanout.kafka.caSecret" . }}
- name: kafka-ca
  mountPath: /etc/fanout/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "fanout.volumes" -}}
- name: config
  configMap:
    name: {{ include "fanout.fullname" . }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with include "fanout.kafka.caSecret" . }}
- name: kafka-ca
  secret:
    secretName: {{ . }}
    items:
      - key: {{ include "fanout.kafka.caKey" $ }}
        path: ca.crt
{{- end }}
{{- end -}}

{{/* HTTP probes on the internal metrics port. */}}
{{- define "fanout.probes" -}}
startupProbe:
  httpGet:
    path: /livez
    port: metrics
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet:
    path: /livez
    port: metrics
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 1
  successThreshold: 1
{{- end -}}
