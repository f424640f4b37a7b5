# Generated from host/motes/ops by 'make format-doc'; do not edit.
# Param and constant order: the op table in docs/FORMAT.md.
# Per op id: its param letters ('s' scalar, 'l' list), its number of
# constants, '/'. One string, so that it costs no RAM in ROMFS or frozen code.
from .structs import nth

SPECS = 'sssss4/ssssssssss4/sssssssssss4/ssssssss0/ssssssss0/0/sss0/sssssssss0/sssssssss0/ssssssssssss2/ssssssssssss2/lssss0/sll1/sll0/sssssssss0/sssssssss0/ssssss0/0/0/sll0/ssssssssssss2/sssssssss0/sssssssss0/ssssss0/'


def spec(op):
    """(param letters, number of constants) of op id, or None if unknown."""
    f = nth(SPECS, op, "/")
    return (f[:-1], int(f[-1])) if f else None
