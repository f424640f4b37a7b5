# Resident mode, from the second inference on: each layer's kernel calls made
# again as the first inference made them (docs/DEVICE.md, "Modes").
#
# In resident mode every constant is decoded at load and every tensor has a
# fixed place in the arena, so what a native or viper layer hands its kernel
# (the params array, the arena, the weights, the requantization table) is the
# same at every inference, and making it is most of a small layer's time
# (hello_world on the M3, native: about 26,000 of a layer's 29,000
# instructions). So the first inference runs the layers with the kernel
# modules' leaf functions recorded (motes_native's functions, k_viper's _conv
# and _pool): later ones make those calls again and nothing else. A layer that
# made no leaf call (a Python kernel, or one handed to the Python kernel), or
# more than one, runs again as its op function, with its tensors made once.
#
# What this relies on (k_native.py, k_viper.py say it too): an op's whole
# effect is its leaf calls, or, if it makes none, its own Python; and a
# resident layer's arguments do not change between inferences. A trace or a
# probe runs the layers as Net._run does.
import gc
import sys

from .structs import MoteError, forget


class _Native:
    # a native module's functions, recorded (k_native calls them as _n.fc,
    # _m.elem etc.)
    pass


def _keep(f, rec, again=True):
    # again=False: a call not to be made again (flipping a streamed chunk in
    # place): its layer runs as its op function
    def call(*a):
        rec[0].append((f, a) if again else None)
        return f(*a)
    return call


def install(net, margin):
    plain = type(net)._run

    def record(trace=None):
        if trace or net.probe:
            return plain(net, trace)
        del net._run            # (whatever happens next: Net._run's again)
        steps = _record(net)
        if gc.mem_free() <= margin:
            gc.collect()        # (only then: a collection is a pass over the heap)
        if gc.mem_free() > margin:
            net._run = lambda trace=None: replay(net, steps, plain, trace)
        else:
            forget("motes.replay")

    net._run = record


def _swap(rec):
    # the leaves of the kernel modules in use, recording into rec[0]; returns
    # how to put them back
    back = []
    k = sys.modules.get("motes.k_native")
    if k:
        # motes_native, and motes_native_more if k_native.more() found it
        for attr in ("_n", "_m"):
            real = getattr(k, attr)
            if real:
                ns = _Native()
                for name in ("fc", "conv", "dwconv", "pool", "elem", "unary", "flip"):
                    f = getattr(real, name, None)
                    if f:
                        setattr(ns, name, _keep(f, rec, name != "flip"))
                setattr(k, attr, ns)
                back.append((k, attr, real))
    k = sys.modules.get("motes.k_viper")
    if k:
        for name in ("_conv", "_pool"):
            f = getattr(k, name)
            setattr(k, name, _keep(f, rec))
            back.append((k, name, f))
    return back


def _record(net):
    steps = []
    rec = [None]
    back = _swap(rec)
    try:
        tensor = net.tensor
        for i in range(len(net.ops)):
            L = net.layer(i)
            a = (net, L, [tensor(j) for j in L.ins], [tensor(j) for j in L.outs])
            rec[0] = calls = []
            try:
                net._fns[i](*a)
            except Exception as e:
                if type(e) is MemoryError:
                    raise
                raise MoteError("%s: %s: %s" % (net.what, "layer %d" % i, e))
            # one call, as every resident layer of theirs makes (a layer
            # streamed in chunks changes its params array between them)
            c = calls[0] if len(calls) == 1 and calls[0] else (net._fns[i], a)
            steps.append((i, c[0], c[1]))
    finally:
        for k, name, f in back:
            setattr(k, name, f)
    return steps


def replay(net, steps, plain, trace):
    if trace or net.probe:
        return plain(net, trace)
    try:
        for i, f, a in steps:
            f(*a)
    except Exception as e:
        if type(e) is MemoryError:
            raise
        raise MoteError("%s: %s: %s" % (net.what, "layer %d" % i, e))
