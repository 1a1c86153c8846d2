"""Networks (issue 3 item 6) on test:///default: NetworkConfigurations and
NetworkTemplates, NetworkCreate by value and by reference, start/stop, a
subnet per network, machines' interfaces (from the MachineTemplate and
attached/detached through the Machine's networkInterfaces collection) with
their Addresses, deleting a network in use (409), NetworkPorts, Addresses,
ForwardingGroups, tenant isolation (another tenant's network is 404 and
cannot be attached to; admin networks are shared), XML schema validity of
every reply (checked by the harness), and networks re-created after a
restart.  tests/unit/test_driver.c checks libvirt's own view of the same
calls (network XML, DHCP reservations, the domain's interfaces)."""

import ipaddress

from cimitest import (check_created, BOTH, NS, Client, Daemon, action_doc, assert_error, assert_unchanged,
                      check, coll_items, eq, ids, isin, machine_create_doc, ne, notin, op, rels,
                      shared, store_snapshot, test)


def daemon():
    return shared("networks")


def client(fmt="json", user="alice"):
    return Client(daemon(), user, fmt=fmt)


def network_doc(name, template=None, **common):
    doc = {"resourceURI": NS + "/NetworkCreate", "name": name}
    doc.update(common)
    doc["networkTemplate"] = template if template is not None else {"networkConfig": {"networkType": "PRIVATE"}}
    return doc


def create_network(c, name, template=None, state="STARTED"):
    """POST a NetworkCreate: 201 (Job done) or 202 (CREATING) + Location +
    Job; returns the Network once it reached state."""
    r = check_created(c.post(c.add_href("networks"), network_doc(name, template)),
                      f"create network {name}")
    loc, job = r.header("Location"), r.header("CIMI-Job-URI")
    eq(r.doc["resourceURI"], NS + "/Network", "create reply is the Network")
    eq(r.doc.get("id"), loc, "body id = Location")
    if r.status == 202:
        eq(r.doc.get("state"), "CREATING", "state in the create reply")
    c.wait_job(job)
    return c.wait_state(loc, state)


def subnet_of(network):
    s = network.get("subnet")
    for el in network.get("_extensions", []):  # XML: an element in cimid's namespace
        if el.tag == "{http://cimid.dev/ns/1}subnet":
            s = el.text
    check(s, f"Network {network.get('id')} shows its subnet (extension): {network!r}")
    return ipaddress.ip_network(s)


def nics_href(c, machine):
    return c.read(machine["id"])["networkInterfaces"]["href"]


def nics_of(c, machine):
    return coll_items(c.list(nics_href(c, machine)))


def machine_with_nics(c, name, networks, initial_state="STOPPED"):
    nics = [{"network": {"href": n["id"]}, "state": "ACTIVE"} for n in networks]
    body = machine_create_doc(c, name, initial_state, networkInterfaces=nics)
    r = c.post(c.add_href("machines"), body)
    check_created(r, f"create machine {name} with interfaces")
    c.wait_job(r.header("CIMI-Job-URI"))
    return c.wait_state(r.header("Location"), initial_state)


def address_of(c, nic):
    """The Address of an interface, through its addresses sub-collection."""
    items = coll_items(c.list(nic["addresses"]["href"]))
    eq(len(items), 1, "an interface has one address")
    eq(items[0]["resourceURI"], NS + "/MachineNetworkInterfaceAddress", "addresses item type")
    return c.read(items[0]["address"]["href"])


def attach(c, machine, network, **extra):
    body = {"resourceURI": NS + "/MachineNetworkInterface", "network": {"href": network["id"]}}
    body.update(extra)
    return c.post(c.add_href(nics_href(c, machine)), body)


# ---------------------------------------------------------------- networks

@test(formats=BOTH)
def network_crud(fmt):
    """Configuration and template by value and by reference; the Network
    reaches STARTED (DefaultInitialState) with a subnet of its own; edit;
    delete answers 200 and the network is gone."""
    c = client(fmt)
    r = c.post(c.add_href("networkConfigs"), {"resourceURI": NS + "/NetworkConfiguration",
                                              "name": "cfg-" + fmt, "networkType": "PRIVATE",
                                              "mtu": 1400, "classOfService": "gold"})
    eq(r.status, 201, f"create NetworkConfiguration ({r.body[:200]!r})")
    cfg = r.doc
    r = c.post(c.add_href("networkTemplates"), {"resourceURI": NS + "/NetworkTemplate",
                                                "name": "tpl-" + fmt,
                                                "networkConfig": {"href": cfg["id"]}})
    eq(r.status, 201, f"create NetworkTemplate ({r.body[:200]!r})")
    tpl = r.doc
    n1 = create_network(c, "by-ref-" + fmt, {"href": tpl["id"]})
    eq(n1.get("networkType"), "PRIVATE", "networkType from the configuration")
    eq(n1.get("mtu"), 1400, "mtu from the configuration")
    eq(n1.get("classOfService"), "gold", "classOfService from the configuration")
    isin("stop", rels(n1), "a STARTED network offers stop")
    notin("start", rels(n1), "a STARTED network does not offer start")
    n2 = create_network(c, "stopped-" + fmt, {"href": tpl["id"], "initialState": "STOPPED"},
                        state="STOPPED")
    isin("start", rels(n2), "a STOPPED network offers start")
    ne(subnet_of(n1), subnet_of(n2), "two networks have two subnets")
    check(not subnet_of(n1).overlaps(subnet_of(n2)), "subnets do not overlap")
    r = c.put(n1["id"], {"resourceURI": NS + "/Network", "name": "renamed-" + fmt,
                         "description": "edited"})
    eq(r.status, 200, f"edit network ({r.body[:200]!r})")
    eq(c.read(n1["id"]).get("name"), "renamed-" + fmt, "the name changed")
    for n in (n1, n2):
        eq(c.delete(n["id"]).status, 200, "delete an unused network")
        eq(c.get(n["id"]).status, 404, "a deleted network is gone")


@test
def network_actions():
    """stop and start are Jobs (202 + CIMI-Job-URI) through STOPPING and
    STARTING; an action not allowed in the state answers 409."""
    c = client()
    n = create_network(c, "switch")
    r = c.post(op(n, "stop"), action_doc("stop"))
    eq(r.status, 202, f"stop ({r.body[:200]!r})")
    c.wait_job(r.header("CIMI-Job-URI"))
    n = c.wait_state(n["id"], "STOPPED")
    assert_error(c.post(n["id"] + "/stop", action_doc("stop")), 409)
    r = c.post(op(n, "start"), action_doc("start"))
    eq(r.status, 202, "start")
    c.wait_job(r.header("CIMI-Job-URI"))
    c.wait_state(n["id"], "STARTED")
    eq(c.delete(n["id"]).status, 200, "delete")


@test
def network_bad_input():
    """Bad templates are 400s that leave the store as it was."""
    c = client()
    before = store_snapshot(c)
    add = c.add_href("networks")
    assert_error(c.post(add, network_doc("x", {"networkConfig": {"mtu": 10}})), 400, ["mtu"])
    assert_error(c.post(add, network_doc("x", {"initialState": "PAUSED",
                                                "networkConfig": {}})), 400, ["initialState"])
    assert_error(c.post(add, network_doc("x", {})), 400, ["networkConfig"])
    assert_error(c.post(add, network_doc("x", {"networkConfig": {"href": add + "/nope"}})), 400)
    assert_error(c.post(add, network_doc("x", {"networkConfig": {}, "eventLogTemplate": {
        "href": "x"}})), 400, ["eventLogTemplate"])
    assert_unchanged(c, before)


# ---------------------------------------------------------------- interfaces

@test(formats=BOTH)
def machine_with_interface(fmt):
    """A MachineTemplate's networkInterfaces become the machine's interfaces:
    each with a MAC, state ACTIVE, the network, and an Address of the
    network's subnet (allocation dynamic, resource = the machine)."""
    c = client(fmt)
    net = create_network(c, "web-" + fmt)
    m = machine_with_nics(c, "nic-vm-" + fmt, [net, net], "STARTED")
    nics = nics_of(c, m)
    eq(len(nics), 2, "two interfaces")
    macs, ips = set(), set()
    for nic in nics:
        eq(nic["resourceURI"], NS + "/MachineNetworkInterface", "item type")
        eq(nic.get("network", {}).get("href"), net["id"], "interface names the network")
        eq(nic.get("state"), "ACTIVE", "interface state")
        check(nic.get("macAddress", "").startswith("52:54:00:"), f"MAC {nic.get('macAddress')}")
        addr = address_of(c, nic)
        isin(ipaddress.ip_address(addr["ip"]), subnet_of(net), "address in the network's subnet")
        eq(addr.get("allocation"), "dynamic", "allocated by cimid")
        eq(addr.get("network", {}).get("href"), net["id"], "the address names the network")
        eq(addr.get("resource", {}).get("href"), m["id"], "the address names the machine")
        eq(addr.get("mask"), "255.255.255.0", "mask")
        eq(addr.get("defaultGateway"), str(next(subnet_of(net).hosts())), "gateway = .1")
        macs.add(nic["macAddress"])
        ips.add(addr["ip"])
    eq(len(macs), 2, "distinct MACs")
    eq(len(ips), 2, "distinct addresses")
    eq(rels(nics[0]), ["delete", "edit"], "an interface offers delete (first) and edit")
    # Deleting the machine frees its addresses; then the network can go.
    eq(c.delete(m["id"]).status, 200, "delete the machine")
    for ip in ips:
        notin(ip, [a.get("ip") for a in coll_items(c.list("addresses"))], "its address is freed")
    eq(c.delete(net["id"]).status, 200, "delete the network")


@test
def attach_detach():
    """POST to networkInterfaces attaches (201/202 + Location + Job), DELETE
    detaches (200) and frees the address; a consumer MAC is kept; bad
    references are 400s and change nothing."""
    c = client()
    net = create_network(c, "attach")
    m = machine_with_nics(c, "attach-vm", [], "STARTED")
    eq(nics_of(c, m), [], "no interfaces yet")
    r = attach(c, m, net, macAddress="52:54:00:AB:CD:EF")
    check_created(r, "attach")
    loc = r.header("Location")
    check(loc and loc.startswith(nics_href(c, m) + "/"), f"Location {loc!r}")
    c.wait_job(r.header("CIMI-Job-URI"))
    nic = c.read(loc)
    eq(nic.get("macAddress"), "52:54:00:ab:cd:ef", "the consumer's MAC (lower case)")
    addr = address_of(c, nic)
    assert_error(attach(c, m, net, macAddress="52:54:00:ab:cd:ef"), 409, ["macAddress"])
    before = store_snapshot(c)
    assert_error(attach(c, m, net, macAddress="01:00:5e:00:00:01"), 400, ["macAddress"])
    assert_error(attach(c, m, {"id": c.coll("networks") + "/no-such"}), 400, ["network"])
    assert_error(c.post(c.add_href(nics_href(c, m)), {"resourceURI": NS + "/MachineNetworkInterface"}),
                 400, ["network"])
    assert_unchanged(c, before)
    # Deleting the Address of an interface is refused; deleting the interface frees it.
    assert_error(c.delete(addr["id"]), 409)
    r = c.delete(loc)
    eq(r.status, 200, f"detach ({r.body[:200]!r})")
    eq(c.get(loc).status, 404, "the interface is gone")
    eq(c.get(addr["id"]).status, 404, "its address is gone")
    eq(c.delete(m["id"]).status, 200, "delete the machine")
    eq(c.delete(net["id"]).status, 200, "delete the network")


@test
def delete_network_in_use():
    """A network with interfaces answers 409 to delete and stays."""
    c = client()
    net = create_network(c, "busy")
    m = machine_with_nics(c, "busy-vm", [net])
    r = c.delete(net["id"])
    assert_error(r, 409, ["in use"])
    eq(c.read(net["id"]).get("state"), "STARTED", "the network stays")
    nic = nics_of(c, m)[0]
    eq(c.delete(nic["id"]).status, 200, "detach")
    eq(c.delete(net["id"]).status, 200, "now the network can go")
    eq(c.delete(m["id"]).status, 200, "delete the machine")


@test
def machine_template_interfaces():
    """A stored MachineTemplate with networkInterfaces (state filled in);
    machines made from it get them; a template naming no network is 400."""
    c = client("xml")
    net = create_network(c, "tpl-net")
    base = machine_create_doc(c, "t")["machineTemplate"]
    tpl = dict(base, resourceURI=NS + "/MachineTemplate", name="with-nic",
               networkInterfaces=[{"network": {"href": net["id"]}, "state": "ACTIVE"}])
    r = c.post(c.add_href("machineTemplates"), tpl)
    eq(r.status, 201, f"create MachineTemplate ({r.body[:300]!r})")
    t = r.doc
    eq(len(t.get("networkInterfaces", [])), 1, "the template keeps its interface")
    bad = dict(tpl, networkInterfaces=[{"network": {"href": c.coll("networks") + "/nope"},
                                        "state": "ACTIVE"}])
    assert_error(c.post(c.add_href("machineTemplates"), bad), 400, ["networkInterfaces"])
    r = c.post(c.add_href("machines"), {"resourceURI": NS + "/MachineCreate", "name": "from-tpl",
                                        "machineTemplate": {"href": t["id"]}})
    check_created(r, "create from the template")
    c.wait_job(r.header("CIMI-Job-URI"))
    m = c.read(r.header("Location"))
    eq(len(nics_of(c, m)), 1, "the machine has the template's interface")
    eq(c.delete(m["id"]).status, 200, "delete the machine")
    eq(c.delete(t["id"]).status, 200, "delete the template")
    eq(c.delete(net["id"]).status, 200, "delete the network")


# ---------------------------------------------------------------- tenants

@test
def tenant_isolation():
    """alice's network: bob gets 404, does not list it, cannot attach his
    machines to it (400) nor put an address or port on it; an admin's
    network is shared: bob sees it and attaches to it but cannot delete it."""
    alice, bob, admin = client(user="alice"), client(user="bob"), client(user="admin")
    net = create_network(alice, "alice-private")
    eq(bob.get(net["id"]).status, 404, "another tenant's network is 404")
    notin(net["id"], ids(bob.list("networks")), "not in bob's listing")
    assert_error(bob.delete(net["id"]), 404)
    m = machine_with_nics(bob, "bob-vm", [])
    assert_error(attach(bob, m, net), 400, ["network"])
    body = machine_create_doc(bob, "bob-vm2", networkInterfaces=[{"network": {"href": net["id"]},
                                                          "state": "ACTIVE"}])
    assert_error(bob.post(bob.add_href("machines"), body), 400, ["network"])
    assert_error(bob.post(bob.add_href("addresses"), {
        "resourceURI": NS + "/AddressCreate", "addressTemplate": {"network": {"href": net["id"]}}}),
        400, ["network"])
    # Even an admin cannot put bob's machine on alice's network.
    assert_error(attach(admin, m, net), 400, ["another tenant"])
    # Nor does bob see alice's machine interfaces.
    am = machine_with_nics(alice, "alice-vm", [net])
    nic = nics_of(alice, am)[0]
    eq(bob.get(nic["id"]).status, 404, "another tenant's interface is 404")
    eq(bob.get(nic["addresses"]["href"]).status, 404, "and its addresses")
    eq(bob.get(address_of(alice, nic)["id"]).status, 404, "and its Address")
    # Shared: an admin's network.
    shared_net = create_network(admin, "shared")
    isin(shared_net["id"], ids(bob.list("networks")), "bob lists the admin's network")
    r = attach(bob, m, shared_net)
    check_created(r, "bob attaches to the shared network")
    bob.wait_job(r.header("CIMI-Job-URI"))
    assert_error(bob.delete(shared_net["id"]), 403)
    ne(subnet_of(net), subnet_of(shared_net), "every network has its own subnet")
    for c, mm in ((bob, m), (alice, am)):
        eq(c.delete(mm["id"]).status, 200, "delete machine")
    eq(alice.delete(net["id"]).status, 200, "delete alice's network")
    eq(admin.delete(shared_net["id"]).status, 200, "delete the shared network")


# ---------------------------------------------------------------- ports, addresses, groups

@test(formats=BOTH)
def ports_and_addresses(fmt):
    """A NetworkPort on a network (STARTED, stop/start); a static Address
    reserves an address (the same ip twice is 409, outside the subnet 400)
    that interfaces then never get; both keep the network from going."""
    c = client(fmt)
    net = create_network(c, "parts-" + fmt)
    r = c.post(c.add_href("networkPortConfigs"), {"resourceURI": NS + "/NetworkPortConfiguration",
                                                  "name": "access", "portType": "ACCESS"})
    eq(r.status, 201, "create NetworkPortConfiguration")
    pcfg = r.doc
    r = c.post(c.add_href("networkPorts"), {
        "resourceURI": NS + "/NetworkPortCreate", "name": "port-" + fmt,
        "networkPortTemplate": {"network": {"href": net["id"]},
                                "networkPortConfig": {"href": pcfg["id"]}}})
    eq(r.status, 201, f"create NetworkPort ({r.body[:300]!r})")
    port = c.read(r.header("Location"))
    eq(port.get("state"), "STARTED", "a new port is STARTED")
    eq(port.get("portType"), "ACCESS", "portType from the configuration")
    r = c.post(op(port, "stop"), action_doc("stop"))
    eq(r.status, 202, "stop the port")
    eq(c.read(port["id"]).get("state"), "STOPPED", "the port is STOPPED")
    ip = str(list(subnet_of(net).hosts())[1])  # .2: the first an interface would get
    add = c.add_href("addresses")
    r = c.post(add, {"resourceURI": NS + "/AddressCreate", "name": "vip-" + fmt,
                     "addressTemplate": {"ip": ip, "network": {"href": net["id"]}}})
    eq(r.status, 201, f"create Address ({r.body[:300]!r})")
    addr = c.read(r.header("Location"))
    eq(addr.get("ip"), ip, "the address asked for")
    eq(addr.get("allocation"), "static", "a consumer's address is static")
    assert_error(c.post(add, {"resourceURI": NS + "/AddressCreate",
                              "addressTemplate": {"ip": ip, "network": {"href": net["id"]}}}), 409)
    assert_error(c.post(add, {"resourceURI": NS + "/AddressCreate",
                              "addressTemplate": {"ip": "192.0.2.7", "network": {"href": net["id"]}}}),
                 400, ["ip"])
    m = machine_with_nics(c, "parts-vm-" + fmt, [net])
    ne(address_of(c, nics_of(c, m)[0])["ip"], ip, "an interface never gets a reserved address")
    eq(c.delete(m["id"]).status, 200, "delete the machine")
    assert_error(c.delete(net["id"]), 409)
    eq(c.delete(port["id"]).status, 200, "delete the port")
    assert_error(c.delete(net["id"]), 409)
    eq(c.delete(addr["id"]).status, 200, "delete the address")
    eq(c.delete(net["id"]).status, 200, "then the network")


@test
def forwarding_groups():
    """A ForwardingGroup of the template's networks; join and leave through
    its networks collection; a network is in one group; another tenant's
    network cannot join; a network in a group cannot be deleted."""
    c, bob = client(), client(user="bob")
    n1, n2, n3 = (create_network(c, f"fg-{i}") for i in range(3))
    r = c.post(c.add_href("forwardingGroups"), {
        "resourceURI": NS + "/ForwardingGroupCreate", "name": "group",
        "forwardingGroupTemplate": {"networks": [{"href": n1["id"]}, {"href": n2["id"]}]}})
    eq(r.status, 201, f"create ForwardingGroup ({r.body[:300]!r})")
    fg = c.read(r.header("Location"))
    members = fg["networks"]["href"]
    eq(sorted(i["network"]["href"] for i in coll_items(c.list(members))),
       sorted([n1["id"], n2["id"]]), "the group's networks")
    eq(c.read(n1["id"]).get("forwardingGroup", {}).get("href"), fg["id"], "network names its group")
    r = c.post(c.add_href(members), {"resourceURI": NS + "/ForwardingGroupNetwork",
                                     "network": {"href": n3["id"]}})
    eq(r.status, 201, f"join ({r.body[:300]!r})")
    joined = r.header("Location")
    assert_error(c.post(c.add_href(members), {"resourceURI": NS + "/ForwardingGroupNetwork",
                                              "network": {"href": n3["id"]}}), 409)
    bob_net = create_network(bob, "bob-fg")
    assert_error(c.post(c.add_href(members), {"resourceURI": NS + "/ForwardingGroupNetwork",
                                              "network": {"href": bob_net["id"]}}), 400)
    eq(bob.get(fg["id"]).status, 404, "another tenant's group is 404")
    assert_error(c.delete(n3["id"]), 409)
    eq(c.delete(joined).status, 200, "leave")
    eq(c.read(n3["id"]).get("forwardingGroup"), None, "n3 is in no group")
    eq(c.delete(fg["id"]).status, 200, "delete the group")
    eq(c.read(n1["id"]).get("forwardingGroup"), None, "its networks are in no group")
    for n in (n1, n2, n3):
        eq(c.delete(n["id"]).status, 200, "delete network")
    eq(bob.delete(bob_net["id"]).status, 200, "delete bob's network")


@test
def metadata_and_cep():
    """The CEP lists the network collections; ResourceMetadata describes
    Network (initial states, the subnet extension)."""
    c = client("xml")
    cep = c.cep()
    for attr in ("networks", "networkTemplates", "networkConfigs", "networkPorts",
                 "networkPortTemplates", "networkPortConfigs", "addresses", "addressTemplates",
                 "forwardingGroups", "forwardingGroupTemplates"):
        check(cep.get(attr, {}).get("href"), f"CEP lists {attr}")
    meta = [m for m in coll_items(c.list("resourceMetadata", fmt="json"))
            if m.get("typeURI") == NS + "/Network"]
    eq(len(meta), 1, "one ResourceMetadata for Network")
    caps = {cap["name"]: cap.get("value") for cap in meta[0].get("capabilities", [])}
    eq(caps.get("DefaultInitialState"), "STARTED", "DefaultInitialState")
    isin("subnet", [a["name"] for a in meta[0].get("attributes", [])], "the subnet extension")


# ---------------------------------------------------------------- restart

@test
def networks_survive_restart():
    """test:///default forgets everything when cimid exits: at start-up
    cimid defines its networks again in the state they had, and the
    machines' interfaces with them."""
    with Daemon(name="networks-restart") as d:
        c = Client(d, "alice")
        up = create_network(c, "up")
        down = create_network(c, "down", {"initialState": "STOPPED", "networkConfig": {}},
                              state="STOPPED")
        m = machine_with_nics(c, "restart-vm", [up], "STARTED")
        d.kill9()
        d.start()
        c = Client(d, "alice")
        eq(c.read(up["id"]).get("state"), "STARTED", "the started network is STARTED again")
        eq(c.read(down["id"]).get("state"), "STOPPED", "the stopped one STOPPED")
        eq(c.read(m["id"]).get("state"), "STARTED", "the machine is back")
        eq(len(nics_of(c, m)), 1, "with its interface")
        assert_error(c.delete(up["id"]), 409)
