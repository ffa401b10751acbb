"""Deploying FaceGate's AWS side (``deploy/``) and removing it again.

- ``template``: reads ``deploy/template.yaml`` and fills in the REST API from ``deploy/openapi.yaml``;
- ``package``: the Lambda code zip from ``lambda_src/`` and ``core/``;
- ``state``: what ``deploy up`` keeps on this machine (device certificate, app configuration);
- ``stack``: up / status / down against CloudFormation, IoT and S3.
"""
