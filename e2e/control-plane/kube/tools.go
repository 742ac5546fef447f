// Package kube only anchors the module; build.sh builds k8s.io/kubernetes/cmd/... from here.
package kube
