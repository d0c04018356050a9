{{/*
The Deployment of one service: (dict "root" $ "component" "edge" "ports" (list (dict "name" "http" "port" 8081)) "apiAccess" true "env" (list ...))
and, optionally, "volumes" and "volumeMounts" of its own.
*/}}
{{- define "fanout.deployment" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .component -}}
{{- $ctx := dict "root" $root "component" .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "fanout.fullname" $root }}-{{ .component }}
  labels:
    {{- include "fanout.componentLabels" $ctx | nindent 4 }}
spec:
  {{- if not $values.autoscaling.enabled }}
  replicas: {{ $values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- include "fanout.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "fanout.componentLabels" $ctx | nindent 8 }}
        {{- with $values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- include "fanout.checksums" $root | nindent 8 }}
        {{- with $values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "fanout.serviceAccountName" $root }}
      automountServiceAccountToken: {{ .apiAccess }}
      {{- with $root.Values.image.pullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      terminationGracePeriodSeconds: {{ include "fanout.gracePeriod" $ctx }}
      enableServiceLinks: false
      containers:
        - name: {{ .component }}
          image: {{ include "fanout.image" $ctx | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          ports:
            {{- range .ports }}
            - name: {{ .name }}
              containerPort: {{ .port }}
              protocol: TCP
            {{- end }}
            - name: metrics
              containerPort: {{ $root.Values.config.telemetry.metricsPort }}
              protocol: TCP
          env:
            {{- include "fanout.commonEnv" $root | nindent 12 }}
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $values.env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          envFrom:
            {{- include "fanout.envFrom" $root | nindent 12 }}
          {{- include "fanout.probes" $root | nindent 10 }}
          lifecycle:
            preStop:
              exec:
                command: ['sleep', '{{ $values.preStopSleepSeconds }}']
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "fanout.volumeMounts" $root | nindent 12 }}
            {{- with .volumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $values.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        {{- include "fanout.volumes" $root | nindent 8 }}
        {{- with .volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with $values.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      topologySpreadConstraints:
        {{- include "fanout.topologySpread" $ctx | nindent 8 }}
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* HorizontalPodAutoscaler: (dict "root" $ "component" "edge" "extraMetrics" (list ...)) */}}
{{- define "fanout.hpa" -}}
{{- $values := index .root.Values .component -}}
{{- $ctx := dict "root" .root "component" .component -}}
{{- if $values.autoscaling.enabled }}
{{- if gt (int $values.autoscaling.minReplicas) (int $values.autoscaling.maxReplicas) }}
{{- fail (printf "%s.autoscaling.minReplicas (%v) must not exceed %s.autoscaling.maxReplicas (%v)" .component $values.autoscaling.minReplicas .component $values.autoscaling.maxReplicas) }}
{{- end }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "fanout.fullname" .root }}-{{ .component }}
  labels:
    {{- include "fanout.componentLabels" $ctx | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "fanout.fullname" .root }}-{{ .component }}
  minReplicas: {{ $values.autoscaling.minReplicas }}
  maxReplicas: {{ $values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $values.autoscaling.targetCPUUtilizationPercentage }}
    {{- with .extraMetrics }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* PodDisruptionBudget: (dict "root" $ "component" "edge") */}}
{{- define "fanout.pdb" -}}
{{- $values := index .root.Values .component -}}
{{- $ctx := dict "root" .root "component" .component -}}
{{- if $values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "fanout.fullname" .root }}-{{ .component }}
  labels:
    {{- include "fanout.componentLabels" $ctx | nindent 4 }}
spec:
  maxUnavailable: {{ $values.pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "fanout.selectorLabels" $ctx | nindent 6 }}
{{- end }}
{{- end -}}
