# The notebook on a GPU, in TensorFlow's official GPU Jupyter image.
#   docker build -t dlnd-face-generation .
#   docker run --gpus all -p 8888:8888 -v "$PWD/data:/data" -v "$PWD/assets:/tf/dlnd-face-generation/assets" dlnd-face-generation
# Data lives on the host and is mounted at /data ($DLND_DATA_DIR, which the notebook's data_dir follows).
ARG TF_IMAGE=tensorflow/tensorflow:2.21.0-gpu-jupyter
FROM ${TF_IMAGE}

WORKDIR /tf/dlnd-face-generation
COPY . .
# TensorFlow with CUDA comes with the image; this adds the project (pyproject.toml) and its other packages.
RUN pip install --no-cache-dir -r requirements.txt

ENV DLND_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8888
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--allow-root", "dlnd_face_generation.ipynb"]
