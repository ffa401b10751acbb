# -*- coding: utf-8 -*-
"""
顔認証結果のログをクラウドにアップロードするコード
引数1: 顔認証結果のログデータ(JSON)

RECONSTRUCTED for FaceGate's tests: the course calls this script (execute_authentication_api.py,
PUB_AUTH_LOG_PATH) but does not publish it. It follows pub_door_open_log_data.py line for line,
with the course's topic for auth logs.
"""
import sys
import json
import boto3
import datetime

# ----- 定数 -----
# このファイルを実行時に受け取る引数(JSON)
ARGS = sys.argv

class PubAuthLogData():
    def __init__(self):
        self.arg_auth_log_data = ARGS[1]

    def create_json_data(self):
        log_data_json = json.loads(self.arg_auth_log_data)
        return json.dumps(log_data_json)

    def publish_auth_log_data(self, log_data):
        iot_data = boto3.client('iot-data')
        response = iot_data.publish(
                topic='handson/authLogData',
                qos = 1,
                payload = log_data
        )
        print(response)
    
    def main(self):
        try:
            log_data = self.create_json_data()
            self.publish_auth_log_data(log_data)

        except Exception as error:
            print(error)

#　初期化
pub_auth_log_data = PubAuthLogData()

if __name__ == "__main__":
    pub_auth_log_data.main()
