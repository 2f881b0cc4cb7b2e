"""Keras-compatible layers: ``from clearconv.layers import Conv2D`` as ``from keras.layers import Conv2D``."""

from .base import Layer, SymbolicTensor
from .conv import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose, Convolution1D,
                   Convolution2D, Convolution3D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                   SeparableConv2D, SeparableConvolution1D, SeparableConvolution2D)
from .core import (ELU, Activation, Dense, Dropout, Flatten, Input, InputLayer, LeakyReLU, PReLU, ReLU, Reshape,
                   Softmax)
from .merge import Add, Concatenate, Multiply, Subtract
from .normalization import BatchNormalization
from .preprocessing import Normalization, Rescaling
from .pooling import (AveragePooling1D, AveragePooling2D, AveragePooling3D, AvgPool1D, AvgPool2D, AvgPool3D,
                      GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D, GlobalAvgPool1D,
                      GlobalAvgPool2D, GlobalAvgPool3D, GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D,
                      GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPool1D, MaxPool2D, MaxPool3D,
                      MaxPooling1D, MaxPooling2D, MaxPooling3D)
from .reshaping import (Cropping1D, Cropping2D, Cropping3D, UpSampling1D, UpSampling2D, UpSampling3D,
                        ZeroPadding1D, ZeroPadding2D, ZeroPadding3D)
