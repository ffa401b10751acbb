# -*- coding: utf-8 -*-
"""
顔分析結果のログをクラウドにアップロードするコード
引数1: 顔分析結果のログデータ(JSON)

RECONSTRUCTED for FaceGate's tests: the course calls this script (execute_analysis_api.py,
PUB_ANALYSIS_LOG_PATH) but does not publish it. It follows pub_door_open_log_data.py line for line,
with the course's topic for analysis logs.
"""
import sys
import json
import boto3
import datetime

# ----- 定数 -----
# このファイルを実行時に受け取る引数(JSON)
ARGS = sys.argv

class PubAnalysisLogData():
    def __init__(self):
        self.arg_analysis_log_data = ARGS[1]

    def create_json_data(self):
        log_data_json = json.loads(self.arg_analysis_log_data)
        return json.dumps(log_data_json)

    def publish_analysis_log_data(self, log_data):
        iot_data = boto3.client('iot-data')
        response = iot_data.publish(
                topic='handson/analysisLogData',
                qos = 1,
                payload = log_data
        )
        print(response)
    
    def main(self):
        try:
            log_data = self.create_json_data()
            self.publish_analysis_log_data(log_data)

        except Exception as error:
            print(error)

#　初期化
pub_analysis_log_data = PubAnalysisLogData()

if __name__ == "__main__":
    pub_analysis_log_data.main()
