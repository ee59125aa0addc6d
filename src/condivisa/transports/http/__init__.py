"""HTTP cloud-to-cloud transport: the ``/api/v1`` routes, the SCPS UrbanDatasetGateway, request bodies."""
