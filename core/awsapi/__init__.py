"""The local world's AWS-compatible endpoint: unmodified boto3 scripts and the AWS CLI talk
to FaceGate by setting ``AWS_ENDPOINT_URL`` (``python -m core aws-env`` prints the lines).

One port (``FACEGATE_AWS_PORT``, 8766), three of AWS's wire protocols on the app's own
ports: S3 REST on the local object store (``s3``, ``s3store``), Rekognition JSON 1.1 on the
face collections (``rekognition``), IoT Data ``Publish`` into the MQTT broker (``iotdata``).
Every request must carry a SigV4 signature (``sigv4``) from credentials FaceGate issues
(``credentials``); what each role may do is ``policy``; errors are AWS's own (``errors``).
``app`` routes a request to its service; ``server`` runs it under uvicorn.
"""
