// netpol-diff driver: answers connectivity queries with the policy matcher of
// cyclonus (github.com/mattfenwick/cyclonus/pkg/matcher: BuildNetworkPolicies
// + Policy.IsTrafficAllowed), for the differential test of loki-audit.
//
// Usage: driver SCENARIO.json...
//
//	driver yaml-decode FILE...
//
// The second form decodes each file as kubectl does (sigs.k8s.io/yaml, over
// gopkg.in/yaml.v2) and prints {"file": F, "error": null | "message"} per
// file: the oracle of tests/yaml-diff (alias expansion limits).
// Prints one JSON line per scenario: {"file": F, "results": [R...]}, one R
// per query, in order:
//
//	{"raw":  {"egress": bool, "ingress": bool},   // cyclonus as published
//	 "api":  {"egress": bool, "ingress": bool},   // cyclonus on policies rewritten to apimachinery's selector semantics
//	 "node": {"egress": bool, "ingress": bool}}   // "api", hostNetwork pods modelled as their node IP
//
// cyclonus has no notion of hostNetwork: "api" treats such pods as pod-network
// pods (the first behaviour the NetworkPolicy docs permit), "node" as traffic
// of the node IP that no pod/namespace selector matches (the second, and the
// most common). "node" is present only when a hostNetwork pod takes part.
//
// The "api" rewrite: cyclonus's LabelSelector matching differs from
// k8s.io/apimachinery's Requirement.Matches in two places (a NotIn
// requirement on an absent key, and matchLabels {k: ""} on an absent key).
// Every selector is rewritten into an equivalent union of selectors that
// both implementations evaluate identically (NotIn -> DoesNotExist | NotIn;
// matchLabels -> In), split over peers (ORed within a rule) or policies
// (a union of pod sets with the same rules). See README.md.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

type namedPort struct {
	Name     string `json:"name"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
}

type pod struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels"`
	IP          string            `json:"ip"`
	HostNetwork bool              `json:"hostNetwork"`
	Ports       []namedPort       `json:"ports"`
}

type namespace struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

type endpoint struct {
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	IP        string `json:"ip,omitempty"`
}

type query struct {
	From     endpoint `json:"from"`
	To       endpoint `json:"to"`
	Port     int      `json:"port"`      // 0 when PortName is set
	PortName string   `json:"port_name"` // a named port of the destination pod
	Protocol string   `json:"protocol"`
}

type scenario struct {
	Namespaces []namespace                   `json:"namespaces"`
	Pods       []pod                         `json:"pods"`
	Policies   []*networkingv1.NetworkPolicy `json:"policies"`
	Queries    []query                       `json:"queries"`
}

type sides struct {
	Egress  bool `json:"egress"`
	Ingress bool `json:"ingress"`
}

type result struct {
	Raw   sides  `json:"raw"`
	API   sides  `json:"api"`
	Node  *sides `json:"node,omitempty"`
	Error string `json:"error,omitempty"`
}

// SetDefaults_NetworkPolicy (k8s.io/kubernetes/pkg/apis/networking/v1):
// no policyTypes means Ingress, plus Egress when there are egress rules.
// cyclonus expects objects as the API server returns them.
func setDefaults(p *networkingv1.NetworkPolicy) {
	if len(p.Spec.PolicyTypes) == 0 {
		p.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		if len(p.Spec.Egress) != 0 {
			p.Spec.PolicyTypes = append(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		}
	}
	for _, r := range p.Spec.Ingress {
		for i := range r.Ports {
			if r.Ports[i].Protocol == nil {
				tcp := v1.ProtocolTCP
				r.Ports[i].Protocol = &tcp
			}
		}
	}
	for _, r := range p.Spec.Egress {
		for i := range r.Ports {
			if r.Ports[i].Protocol == nil {
				tcp := v1.ProtocolTCP
				r.Ports[i].Protocol = &tcp
			}
		}
	}
}

// expandSelector returns selectors whose union selects exactly what `s`
// selects under apimachinery's semantics, each using only requirements that
// cyclonus evaluates the same way: matchLabels {k: v} becomes In(k, [v])
// (apimachinery's Equals requires the key), NotIn(k, vs) becomes
// DoesNotExist(k) | NotIn(k, vs) (apimachinery: "NotIn ... if the key is
// absent, matches").
func expandSelector(s metav1.LabelSelector) []metav1.LabelSelector {
	var reqs []metav1.LabelSelectorRequirement
	for k, v := range s.MatchLabels {
		reqs = append(reqs, metav1.LabelSelectorRequirement{Key: k, Operator: metav1.LabelSelectorOpIn, Values: []string{v}})
	}
	out := []metav1.LabelSelector{{}}
	add := func(sels []metav1.LabelSelector, r metav1.LabelSelectorRequirement) []metav1.LabelSelector {
		var next []metav1.LabelSelector
		for _, s := range sels {
			c := metav1.LabelSelector{MatchExpressions: append(append([]metav1.LabelSelectorRequirement{}, s.MatchExpressions...), r)}
			next = append(next, c)
		}
		return next
	}
	for _, r := range reqs {
		out = add(out, r)
	}
	for _, r := range s.MatchExpressions {
		if r.Operator == metav1.LabelSelectorOpNotIn {
			a := add(out, metav1.LabelSelectorRequirement{Key: r.Key, Operator: metav1.LabelSelectorOpDoesNotExist})
			b := add(out, r)
			out = append(a, b...)
		} else {
			out = add(out, r)
		}
	}
	return out
}

func expandPeers(peers []networkingv1.NetworkPolicyPeer) []networkingv1.NetworkPolicyPeer {
	if len(peers) == 0 {
		return peers
	}
	var out []networkingv1.NetworkPolicyPeer
	for _, p := range peers {
		if p.IPBlock != nil {
			out = append(out, p)
			continue
		}
		pods := []*metav1.LabelSelector{p.PodSelector}
		if p.PodSelector != nil {
			pods = nil
			for _, s := range expandSelector(*p.PodSelector) {
				s := s
				pods = append(pods, &s)
			}
		}
		nss := []*metav1.LabelSelector{p.NamespaceSelector}
		if p.NamespaceSelector != nil {
			nss = nil
			for _, s := range expandSelector(*p.NamespaceSelector) {
				s := s
				nss = append(nss, &s)
			}
		}
		for _, ps := range pods {
			for _, ns := range nss {
				out = append(out, networkingv1.NetworkPolicyPeer{PodSelector: ps, NamespaceSelector: ns})
			}
		}
	}
	return out
}

func apiPolicies(in []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, p := range in {
		for _, sel := range expandSelector(p.Spec.PodSelector) {
			c := p.DeepCopy()
			c.Spec.PodSelector = sel
			for i := range c.Spec.Ingress {
				c.Spec.Ingress[i].From = expandPeers(c.Spec.Ingress[i].From)
			}
			for i := range c.Spec.Egress {
				c.Spec.Egress[i].To = expandPeers(c.Spec.Egress[i].To)
			}
			out = append(out, c)
		}
	}
	return out
}

func run(sc *scenario) []result {
	for _, p := range sc.Policies {
		setDefaults(p)
	}
	nsLabels := map[string]map[string]string{}
	for _, n := range sc.Namespaces {
		l := map[string]string{}
		for k, v := range n.Labels {
			l[k] = v
		}
		// The API server sets it on every namespace.
		l["kubernetes.io/metadata.name"] = n.Name
		nsLabels[n.Name] = l
	}
	pods := map[string]*pod{}
	for i := range sc.Pods {
		p := &sc.Pods[i]
		pods[p.Namespace+"/"+p.Name] = p
	}
	raw := matcher.BuildNetworkPolicies(false, sc.Policies)
	api := matcher.BuildNetworkPolicies(false, apiPolicies(sc.Policies))

	peerOf := func(e endpoint, asNode bool) (*matcher.TrafficPeer, *pod, error) {
		if e.Pod == "" {
			return &matcher.TrafficPeer{IP: e.IP}, nil, nil
		}
		p, ok := pods[e.Namespace+"/"+e.Pod]
		if !ok {
			return nil, nil, fmt.Errorf("no pod %s/%s", e.Namespace, e.Pod)
		}
		if asNode && p.HostNetwork {
			return &matcher.TrafficPeer{IP: p.IP}, p, nil
		}
		nl, ok := nsLabels[p.Namespace]
		if !ok {
			nl = map[string]string{"kubernetes.io/metadata.name": p.Namespace}
		}
		return &matcher.TrafficPeer{
			Internal: &matcher.InternalPeer{PodLabels: p.Labels, NamespaceLabels: nl, Namespace: p.Namespace},
			IP:       p.IP,
		}, p, nil
	}

	var out []result
	for _, q := range sc.Queries {
		var r result
		eval := func(pol *matcher.Policy, asNode bool) (sides, error) {
			src, _, err := peerOf(q.From, asNode)
			if err != nil {
				return sides{}, err
			}
			dst, dstPod, err := peerOf(q.To, asNode)
			if err != nil {
				return sides{}, err
			}
			proto := v1.Protocol(q.Protocol)
			port, name := q.Port, ""
			if dstPod != nil {
				for _, np := range dstPod.Ports {
					if q.PortName != "" && np.Name == q.PortName {
						port, proto, name = np.Port, v1.Protocol(np.Protocol), np.Name
						break
					}
					if q.PortName == "" && np.Port == port && v1.Protocol(np.Protocol) == proto {
						name = np.Name
						break
					}
				}
			}
			if q.PortName != "" && name == "" {
				return sides{}, fmt.Errorf("no port named %s", q.PortName)
			}
			res := pol.IsTrafficAllowed(&matcher.Traffic{Source: src, Destination: dst, ResolvedPort: port, ResolvedPortName: name, Protocol: proto})
			return sides{Egress: res.Egress.IsAllowed(), Ingress: res.Ingress.IsAllowed()}, nil
		}
		var err error
		if r.Raw, err = eval(raw, false); err == nil {
			r.API, err = eval(api, false)
		}
		hn := false
		for _, e := range []endpoint{q.From, q.To} {
			if p, ok := pods[e.Namespace+"/"+e.Pod]; ok && e.Pod != "" && p.HostNetwork {
				hn = true
			}
		}
		if err == nil && hn {
			var n sides
			n, err = eval(api, true)
			r.Node = &n
		}
		if err != nil {
			r.Error = err.Error()
		}
		out = append(out, r)
	}
	return out
}

func main() {
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	if len(os.Args) > 1 && os.Args[1] == "yaml-decode" {
		yamlDecode(w, os.Args[2:])
		return
	}
	for _, f := range os.Args[1:] {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var sc scenario
		if err := json.Unmarshal(data, &sc); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", f, err)
			os.Exit(2)
		}
		line, _ := json.Marshal(map[string]interface{}{"file": f, "results": run(&sc)})
		w.Write(line)
		w.WriteString("\n")
	}
}

func yamlDecode(w *bufio.Writer, files []string) {
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var msg interface{}
		if _, err := sigsyaml.YAMLToJSON(data); err != nil {
			msg = err.Error()
		}
		line, _ := json.Marshal(map[string]interface{}{"file": f, "error": msg})
		w.Write(line)
		w.WriteString("\n")
	}
}
