# Generated from host/motes/ops by 'make format-doc'; do not edit.
# Param and constant order: the op table in docs/FORMAT.md.
# Per op id: its param letters (the kind of each scalar, format.PARAM_LIMITS; 'l' a list),
# its number of
# constants, '/'. One string, so that it costs no RAM in ROMFS or frozen code.
from .structs import nth

SPECS = 'iioaa4/ggggppioaa4/ggggppfioaa4/ffggppaa0/ffggppaa0/0/mus0/oomhmhsaa0/oomhmhsaa0/iiokmhmhmhaa2/iiokmhmhmhaa2/lmhso0/sll1/vll0/oomhmhsaa0/oomhmhsaa0/qoomhs0/0/0/vll0/iiokmhmhmhaa2/oomhmhsaa0/oomhmhsaa0/qoomhs0/2/2/l0/ll0/ll0/ll0/ll0/ll0/ll0/ll0/ggppioaa4/'


def spec(op):
    """(param letters, number of constants) of op id, or None if unknown."""
    f = nth(SPECS, op, "/")
    return (f[:-1], int(f[-1])) if f else None
