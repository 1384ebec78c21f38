"""The unit tests import the collection as ansible_collections.geostack.cluster.

Run with pytest from the checkout, the collection is found through the link
that scripts/setup.sh makes (.collections/ansible_collections/geostack/cluster);
under `ansible-test units`, through the tree ansible-test runs in and the
collection finder it sets up itself.
"""

from ..conftest import COLLECTIONS

if COLLECTIONS.is_dir():
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader([str(COLLECTIONS)])
