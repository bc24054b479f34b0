"""Build-time fix of Debian's ironic-api 29.0.5-0+deb13u4 (trixie): every node PATCH made the node its own parent.

That update's NodesController.patch asks `authorize_node_link_patch(rpc_node, patch, 'parent_node')` for the
new parent and stores its answer as `parent_node`; but the function answers the node itself when the patch does
not touch `/parent_node`. So any PATCH (instance_info, extra, ...) set `parent_node` to the node's own UUID, and
the next power-on waited for its "parent" — itself, locked by the same task — and failed ("Cannot power on
parent_node"). Here the parent is looked up only when the patch sets one. A package without the faulty lines
(a later Debian update, or bookworm's Zed, which has no parent nodes) is left as it is.
"""

import pathlib
import sys

PATH = pathlib.Path("/usr/lib/python3/dist-packages/ironic/api/controllers/v1/node.py")
FAULTY = """        if parent_node := api_utils.authorize_node_link_patch(
                rpc_node, patch, 'parent_node'):
"""
FIXED = """        if api_utils.get_patch_values(patch, '/parent_node') and (
                parent_node := api_utils.authorize_node_link_patch(
                    rpc_node, patch, 'parent_node')):
"""

source = PATH.read_text()
count = source.count(FAULTY)
if count > 1:
    sys.exit(f"{PATH}: the faulty parent_node lines appear {count} times: not changed")
if count == 1:
    PATH.write_text(source.replace(FAULTY, FIXED))
    print(f"{PATH}: parent_node is looked up only when a PATCH sets it")
else:
    print(f"{PATH}: no faulty parent_node lookup: nothing to fix")
